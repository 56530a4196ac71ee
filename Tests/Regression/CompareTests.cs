using Fabrik.Testing.Regression;
using Xunit;

namespace Fabrik.Tests.Regression;

/// <summary>The rank test against p-values counted by hand (every ordering of the two samples),
/// and compare's verdicts on runs made up here.</summary>
public sealed class CompareTests
{
    [Theory]
    // n1 = n2 = 3: 20 orderings; U counts 0..9 occur 1,1,2,3,3,3,3,2,1,1 times.
    [InlineData(new[] { 1.0, 2, 3 }, new[] { 4.0, 5, 6 }, 2.0 / 20)]
    [InlineData(new[] { 1.0, 3, 5 }, new[] { 2.0, 4, 6 }, 2 * 7.0 / 20)]
    [InlineData(new[] { 1.0, 2, 4 }, new[] { 3.0, 5, 6 }, 2 * 2.0 / 20)]
    // n1 = n2 = 5, fully separated: 2 of C(10,5) = 252 orderings are as extreme.
    [InlineData(new[] { 10.0, 11, 12, 13, 14 }, new[] { 1.0, 2, 3, 4, 5 }, 2.0 / 252)]
    public void TwoSidedP_SmallSamples_IsTheExactProbability(double[] x, double[] y, double expected)
    {
        Assert.Equal(expected, MannWhitney.TwoSidedP(x, y), 10);
        Assert.Equal(expected, MannWhitney.TwoSidedP(y, x), 10);
    }

    [Fact]
    public void TwoSidedP_IdenticalSamplesWithTies_IsOne() =>
        Assert.Equal(1, MannWhitney.TwoSidedP([5.0, 5, 5, 5], [5.0, 5, 5, 5]), 10);

    [Fact]
    public void Print_FlagsOnlyASignificantSlowdownBeyondTheThreshold()
    {
        double[] Around(double center) => [.. Enumerable.Range(0, 8).Select(i => center + (i * 0.01 * center / 8))];
        var old = Run("aaa", ("Steady", Around(100), 100), ("Slower", Around(100), 100), ("Faster", Around(100), 100), ("Removed", Around(1), 0));
        var @new = Run("bbb", ("Steady", Around(100.5), 100), ("Slower", Around(120), 164), ("Faster", Around(70), 100), ("Added", Around(1), 0));
        var output = new StringWriter();

        var regressions = CompareCommand.Print(old, @new, thresholdPercent: 5, alpha: 0.05, output);

        Assert.Equal(1, regressions);
        var lines = output.ToString().Split('\n');
        Assert.EndsWith("same", Line(lines, "Steady"), StringComparison.Ordinal);
        Assert.EndsWith("REGRESSION, allocates 64 B/op more", Line(lines, "Slower"), StringComparison.Ordinal);
        Assert.EndsWith("faster", Line(lines, "Faster"), StringComparison.Ordinal);
        Assert.EndsWith("removed", Line(lines, "Removed"), StringComparison.Ordinal);
        Assert.EndsWith("new benchmark", Line(lines, "Added"), StringComparison.Ordinal);
    }

    private static string Line(string[] lines, string benchmark) => lines.Single(line => line.StartsWith(benchmark + " ", StringComparison.Ordinal)).TrimEnd();

    private static BenchmarkRun Run(string commit, params (string Name, double[] Times, long Bytes)[] benchmarks) =>
        new("budgets", commit, "test machine", DateTimeOffset.UnixEpoch, [.. benchmarks.Select(b => new BenchmarkMeasurements(b.Name, b.Times, b.Bytes))]);
}
