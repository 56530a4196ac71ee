namespace Fabrik.Benchmarks.Load;

/// <summary>
/// The "Feature costs" section of docs/performance.md: written by Benchmarks/feature-costs.sh
/// (tenants, ensembles, shared memory, the .NET client), each from its own script, between two
/// markers. The report keeps that block as it is when it regenerates the rest of the file, so
/// that either script can be re-run alone.
/// </summary>
internal static class FeatureCosts
{
    public const string Begin = "<!-- feature-costs:begin -->", End = "<!-- feature-costs:end -->";

    /// <summary>The block, markers included and followed by a blank line, from the report at
    /// <paramref name="path"/>; empty when there is none.</summary>
    public static string Kept(string path)
    {
        if (!File.Exists(path))
        {
            return "";
        }
        var text = File.ReadAllText(path);
        var begin = text.IndexOf(Begin, StringComparison.Ordinal);
        var end = text.IndexOf(End, StringComparison.Ordinal);
        return begin < 0 || end < begin ? "" : text[begin..(end + End.Length)] + "\n\n";
    }
}
