using Fabrik.Errors;

namespace Fabrik.Protocol.SharedMemory;

/// <summary>
/// A system shared-memory key as <c>shm_open</c> and Triton's clients spell it: one leading
/// <c>/</c> and a single file name after it. Anything else (another slash, <c>..</c>, a NUL, an
/// empty or over-long name) is refused before the file system is touched, so a key can only ever
/// name an object directly inside <c>/dev/shm</c>.
/// </summary>
internal static class SharedMemoryKey
{
    /// <summary>NAME_MAX: the longest file name Linux accepts.</summary>
    public const int MaxNameLength = 255;

    /// <summary>The object's file name in /dev/shm (the key without its slash).</summary>
    /// <exception cref="InferenceException">InvalidArgument saying what is wrong with the key.</exception>
    public static string FileName(string key)
    {
        if (key.Length < 2 || key[0] != '/')
        {
            throw Invalid("must start with '/' followed by a name, as shm_open names objects");
        }
        var name = key[1..];
        if (name.Contains('/'))
        {
            throw Invalid("may hold no '/' after the leading one");
        }
        if (name.Contains("..", StringComparison.Ordinal) || name == ".")
        {
            throw Invalid("may not contain '..' or be '.'");
        }
        if (name.Contains('\0') || name.Any(char.IsControl))
        {
            throw Invalid("may not contain NUL or control characters");
        }
        if (System.Text.Encoding.UTF8.GetByteCount(name) > MaxNameLength)
        {
            throw Invalid($"is longer than {MaxNameLength} bytes");
        }
        return name;
    }

    private static InferenceException Invalid(string problem) =>
        InferenceException.InvalidArgument($"shared memory key {problem}");
}
