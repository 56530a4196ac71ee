using System.Text.RegularExpressions;

namespace Fabrik.Security;

/// <summary>
/// Makes server-side messages fit for clients: paths inside a model repository become relative
/// to it, any other absolute path is cut to its file name, and native stack traces are dropped.
/// The server log keeps the full message.
/// </summary>
internal static partial class Redaction
{
    /// <summary>The message with <paramref name="roots"/> (the repositories, as given and as
    /// resolved) stripped from paths and every other absolute path reduced to its last part.</summary>
    public static string ForClient(string message, IEnumerable<string> roots)
    {
        foreach (var root in roots.SelectMany(Forms).Distinct().OrderByDescending(form => form.Length))
        {
            message = message.Replace(root, "", StringComparison.Ordinal);
        }
        message = StackTrace().Replace(message, "");
        return AbsolutePath().Replace(message, match => Path.GetFileName(match.Value.TrimEnd('/')));
    }

    private static IEnumerable<string> Forms(string root)
    {
        var full = Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar);
        yield return full + Path.DirectorySeparatorChar;
        var resolved = new DirectoryInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName;
        if (resolved is not null)
        {
            yield return resolved.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        }
        yield return full;
    }

    // An absolute Unix path of two or more parts, not preceded by a word character or a scheme.
    [GeneratedRegex(@"(?<![\w:/.])/(?:[\w.+@~-]+/)+[\w.+@~-]*")]
    private static partial Regex AbsolutePath();

    // libtorch's "Exception raised from ... (most recent call first): frames" and .NET's "   at X.Y()" lines.
    [GeneratedRegex(@"(Exception raised from .*$|\n\s+at .*$)", RegexOptions.Singleline)]
    private static partial Regex StackTrace();
}
