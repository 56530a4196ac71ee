using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Reports;

namespace Fabrik.Benchmarks.Regression;

/// <summary>One benchmark's measurements: nanoseconds per operation of each measured (workload,
/// result) iteration, and bytes allocated per operation.</summary>
public sealed record BenchmarkMeasurements(string Name, double[] NanosecondsPerOperation, long? AllocatedBytesPerOperation);

/// <summary>A run of benchmarks as exported: what ran, where, and each benchmark's measurements.</summary>
/// <param name="Kind">"suite" (the full BenchmarkDotNet jobs) or "budgets" (CI's short in-process
/// job): their timings are not comparable with each other.</param>
/// <param name="Commit">The commit measured (with "-dirty" when the tree had changes).</param>
/// <param name="Machine">Host name, cores and CPU model.</param>
/// <param name="Date">When the run was exported.</param>
/// <param name="Benchmarks">Each benchmark's measurements, by name.</param>
public sealed record BenchmarkRun(string Kind, string Commit, string Machine, DateTimeOffset Date, IReadOnlyList<BenchmarkMeasurements> Benchmarks);

/// <summary>
/// Exports benchmark runs as JSON into a results folder named by commit
/// (Benchmarks/results/&lt;commit&gt;/&lt;kind&gt;.json) and reads them back for <c>compare</c>.
/// </summary>
public static class BenchmarkResults
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The default results folder: Benchmarks/results.</summary>
    public static string ResultsRoot => Path.Combine(BenchmarkModels.RepositoryRoot, "Benchmarks", "results");

    /// <summary>"Type.Method" plus the parameters, for example "CodecBenchmarks.DecodeJson(DataType=FP32)".</summary>
    public static string Name(BenchmarkReport report)
    {
        var benchmark = report.BenchmarkCase;
        var name = $"{benchmark.Descriptor.Type.Name}.{benchmark.Descriptor.WorkloadMethod.Name}";
        return benchmark.HasParameters ? $"{name}({benchmark.Parameters.PrintInfo})" : name;
    }

    /// <summary>Writes the measurements of <paramref name="summaries"/> to
    /// <paramref name="folder"/>/<paramref name="kind"/>.json (folder default: results/&lt;commit&gt;).
    /// Returns the file written.</summary>
    public static string Export(IEnumerable<Summary> summaries, string kind, string? folder = null)
    {
        var commit = Commit();
        folder ??= Path.Combine(ResultsRoot, commit);
        Directory.CreateDirectory(folder);
        var benchmarks = summaries.SelectMany(summary => summary.Reports)
            .Select(report => new BenchmarkMeasurements(
                Name(report),
                [.. report.AllMeasurements
                    .Where(m => m.IterationMode == IterationMode.Workload && m.IterationStage == IterationStage.Result && m.Operations > 0)
                    .Select(m => m.Nanoseconds / m.Operations)],
                report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase)))
            .OrderBy(b => b.Name, StringComparer.Ordinal)
            .ToArray();
        var run = new BenchmarkRun(kind, commit, $"{Environment.MachineName}, {Environment.ProcessorCount} cores, {CpuModel()}", DateTimeOffset.UtcNow, benchmarks);
        var path = Path.Combine(folder, kind + ".json");
        File.WriteAllText(path, JsonSerializer.Serialize(run, Json));
        Console.WriteLine($"Measurements written to {path}");
        return path;
    }

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
            var start = new ProcessStartInfo("git", arguments) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = BenchmarkModels.RepositoryRoot };
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

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(line => line.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        }
        catch (IOException)
        {
            return "unknown CPU";
        }
    }

    internal static string Format(double value) => value.ToString(value >= 100 ? "F0" : "F1", CultureInfo.InvariantCulture);
}
