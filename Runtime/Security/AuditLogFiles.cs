namespace Fabrik.Security;

/// <summary>The files of one audit log: the log itself and its rotated files <c>PATH.N</c>, a
/// higher N for a later file.</summary>
internal static class AuditLogFiles
{
    /// <summary>The rotated files of the log at <paramref name="path"/>, oldest first. Only names
    /// that are the log's name, a dot and a number count.</summary>
    public static List<(long Number, string Path)> Rotated(string path)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        var prefix = Path.GetFileName(full) + ".";
        if (!Directory.Exists(directory))
        {
            return [];
        }
        var rotated = new List<(long, string)>();
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            var name = Path.GetFileName(file);
            if (name.Length > prefix.Length && name.StartsWith(prefix, StringComparison.Ordinal)
                && name.AsSpan(prefix.Length).IndexOfAnyExceptInRange('0', '9') < 0
                && long.TryParse(name.AsSpan(prefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
            {
                rotated.Add((number, file));
            }
        }
        rotated.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return rotated;
    }

    /// <summary>The name the next rotation gives the log: one past the highest number there is, so
    /// that a number freed by retention is never used again and the order stays by number.</summary>
    public static string Next(string path)
    {
        var rotated = Rotated(path);
        return $"{Path.GetFullPath(path)}.{(rotated.Count == 0 ? 1 : rotated[^1].Number + 1)}";
    }
}
