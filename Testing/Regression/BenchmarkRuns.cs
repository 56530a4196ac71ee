using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Fabrik.Testing.Regression;

/// <summary>
/// Exported benchmark runs on disk: the results folder named by commit
/// (Benchmarks/results/&lt;commit&gt;/&lt;kind&gt;.json), reading a run back for <c>compare</c>, and
/// the commit a run is recorded under. The benchmarks write the runs (BenchmarkResults).
/// </summary>
public static class BenchmarkRuns
{
    /// <summary>How runs are written and read: indented JSON.</summary>
    public static JsonSerializerOptions Json { get; } = new() { WriteIndented = true };

    /// <summary>The default results folder: Benchmarks/results.</summary>
    public static string ResultsRoot => Path.Combine(RepositoryLayout.Root, "Benchmarks", "results");

    /// <summary>Reads a run: a .json file, a folder holding one (kind picks which when it holds
    /// several), or a commit with a folder under <see cref="ResultsRoot"/>.</summary>
    public static BenchmarkRun Load(string reference, string? kind = null)
    {
        var path = reference;
        if (!File.Exists(path))
        {
            var folder = Directory.Exists(path) ? path : Path.Combine(ResultsRoot, reference);
            if (!Directory.Exists(folder))
            {
                throw new FileNotFoundException($"compare: '{reference}' is neither a results file, a folder, nor a commit with results in {ResultsRoot}");
            }
            var files = Directory.GetFiles(folder, "*.json").Where(file => kind is null || Path.GetFileNameWithoutExtension(file) == kind).Order(StringComparer.Ordinal).ToArray();
            path = files.Length switch
            {
                0 => throw new FileNotFoundException($"compare: no {kind ?? "results"} .json in {folder}"),
                1 => files[0],
                _ => throw new ArgumentException($"compare: {folder} holds several runs ({string.Join(", ", files.Select(Path.GetFileName))}); name one with --kind"),
            };
        }
        return JsonSerializer.Deserialize<BenchmarkRun>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path} holds no run");
    }

    /// <summary>The commit checked out (short hash, with "-dirty" when the tree has changes), or
    /// FABRIK_COMMIT when set, or "unknown" outside a git checkout.</summary>
    public static string Commit()
    {
        if (Environment.GetEnvironmentVariable("FABRIK_COMMIT") is { Length: > 0 } set)
        {
            return set;
        }
        var hash = Git("rev-parse --short=12 HEAD");
        if (hash is null)
        {
            return "unknown";
        }
        return Git("status --porcelain --untracked-files=no") is { Length: > 0 } ? hash + "-dirty" : hash;
    }

    private static string? Git(string arguments)
    {
        try
        {
            var start = new ProcessStartInfo("git", arguments) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepositoryLayout.Root };
            using var git = Process.Start(start)!;
            var output = git.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            return git.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // no git
        }
    }

    /// <summary>A time per operation as compare prints it.</summary>
    public static string Format(double value) => value.ToString(value >= 100 ? "F0" : "F1", CultureInfo.InvariantCulture);
}
