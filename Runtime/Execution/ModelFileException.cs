namespace Fabrik.Execution;

/// <summary>
/// A model file that a backend's native library refused to load. <see cref="Exception.Message"/>
/// says why in the server's own words and is what network callers see; the library's own text
/// (<see cref="NativeMessage"/>, with its paths, error codes and internals) goes to the server log only.
/// </summary>
internal sealed class ModelFileException(string message, string nativeMessage, Exception inner) : InvalidOperationException(message, inner)
{
    /// <summary>The native library's message, for the server log.</summary>
    public string NativeMessage { get; } = nativeMessage;

    /// <summary>Whether the native message names any of <paramref name="phrases"/> (the backends
    /// classify their libraries' failures by these).</summary>
    public static bool Mentions(string nativeMessage, params ReadOnlySpan<string> phrases)
    {
        foreach (var phrase in phrases)
        {
            if (nativeMessage.Contains(phrase, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Whether the model file is empty (false when it cannot be read).</summary>
    public static bool IsEmptyFile(string modelPath)
    {
        try
        {
            return new FileInfo(modelPath).Length == 0;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
