using System.Globalization;

namespace Fabrik.Testing.Regression;

/// <summary>
/// <c>-- compare OLD NEW [--threshold 5] [--alpha 0.05] [--kind suite|budgets] [--fail-on-regression]</c>:
/// each benchmark's median time per operation in both runs, the change, and the Mann-Whitney
/// two-sided p-value over the two runs' measurements. A change beyond the threshold (percent) with
/// p below alpha is a regression (slower) or an improvement (faster); anything else is reported as
/// no significant change. OLD and NEW are commits with results under Benchmarks/results, folders,
/// or .json files. Exit code 0, or 1 with --fail-on-regression when something regressed.
/// </summary>
public static class CompareCommand
{
    public static int Run(string[] args)
    {
        var positional = new List<string>();
        double threshold = 5, alpha = 0.05;
        string? kind = null;
        var failOnRegression = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threshold": threshold = double.Parse(args[++i].TrimEnd('%'), CultureInfo.InvariantCulture); break;
                case "--alpha": alpha = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--kind": kind = args[++i]; break;
                case "--fail-on-regression": failOnRegression = true; break;
                default:
                    if (args[i].StartsWith("--", StringComparison.Ordinal))
                    {
                        throw new ArgumentException($"compare: unknown option '{args[i]}'");
                    }
                    positional.Add(args[i]);
                    break;
            }
        }
        if (positional.Count != 2)
        {
            Console.Error.WriteLine("usage: compare OLD NEW [--threshold PERCENT] [--alpha P] [--kind suite|budgets] [--fail-on-regression]");
            return 2;
        }
        BenchmarkRun old, @new;
        try
        {
            old = BenchmarkRuns.Load(positional[0], kind);
            @new = BenchmarkRuns.Load(positional[1], kind ?? old.Kind);
        }
        catch (Exception e) when (e is FileNotFoundException or ArgumentException)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        var regressions = Print(old, @new, threshold, alpha, Console.Out);
        return failOnRegression && regressions > 0 ? 1 : 0;
    }

    /// <summary>Writes the comparison; returns how many benchmarks regressed.</summary>
    public static int Print(BenchmarkRun old, BenchmarkRun @new, double thresholdPercent, double alpha, TextWriter output)
    {
        output.WriteLine($"old: {old.Commit} ({old.Kind}, {old.Date:yyyy-MM-dd HH:mm} UTC, {old.Machine})");
        output.WriteLine($"new: {@new.Commit} ({@new.Kind}, {@new.Date:yyyy-MM-dd HH:mm} UTC, {@new.Machine})");
        if (old.Kind != @new.Kind)
        {
            output.WriteLine($"warning: a {old.Kind} run against a {@new.Kind} run; their timings come from different jobs");
        }
        if (old.Machine != @new.Machine)
        {
            output.WriteLine("warning: the runs come from different machines; timing changes say more about the machines than the code");
        }
        output.WriteLine($"Regression: slower by more than {thresholdPercent}% with Mann-Whitney p < {alpha} (two-sided, over each run's iterations).");
        output.WriteLine();
        output.WriteLine($"{"benchmark",-62} {"old ns/op",11} {"new ns/op",11} {"change",8} {"p",7} {"alloc B/op",16}  verdict");
        var olds = old.Benchmarks.ToDictionary(b => b.Name, StringComparer.Ordinal);
        var regressions = 0;
        foreach (var current in @new.Benchmarks)
        {
            if (!olds.Remove(current.Name, out var previous))
            {
                output.WriteLine($"{current.Name,-62} {"-",11} {Median(current),11:F1} {"",8} {"",7} {Bytes(null, current),16}  new benchmark");
                continue;
            }
            var (before, after) = (Median(previous), Median(current));
            var change = before > 0 ? ((after / before) - 1) * 100 : 0;
            var p = MannWhitney.TwoSidedP(previous.NanosecondsPerOperation, current.NanosecondsPerOperation);
            var verdict = p >= alpha || Math.Abs(change) <= thresholdPercent ? "same"
                : change > 0 ? "REGRESSION" : "faster";
            if (verdict == "REGRESSION")
            {
                regressions++;
            }
            if (previous.AllocatedBytesPerOperation is { } a && current.AllocatedBytesPerOperation is { } b && b > a)
            {
                verdict += $", allocates {b - a} B/op more";
            }
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{current.Name,-62} {BenchmarkRuns.Format(before),11} {BenchmarkRuns.Format(after),11} {change,7:+0.0;-0.0;0.0}% {p,7:F3} {Bytes(previous, current),16}  {verdict}"));
        }
        foreach (var gone in olds.Values)
        {
            output.WriteLine($"{gone.Name,-62} {Median(gone),11:F1} {"-",11} {"",8} {"",7} {"",16}  removed");
        }
        output.WriteLine();
        output.WriteLine(regressions == 0 ? "No regressions beyond the threshold." : $"{regressions} benchmark(s) regressed beyond the threshold.");
        return regressions;
    }

    private static double Median(BenchmarkMeasurements benchmark)
    {
        var sorted = benchmark.NanosecondsPerOperation.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Bytes(BenchmarkMeasurements? old, BenchmarkMeasurements current) =>
        $"{old?.AllocatedBytesPerOperation?.ToString(CultureInfo.InvariantCulture) ?? "-"} → {current.AllocatedBytesPerOperation?.ToString(CultureInfo.InvariantCulture) ?? "-"}";
}
