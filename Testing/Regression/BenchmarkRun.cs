namespace Fabrik.Testing.Regression;

/// <summary>A run of benchmarks as exported: what ran, where, and each benchmark's measurements.</summary>
/// <param name="Kind">"suite" (the full BenchmarkDotNet jobs) or "budgets" (CI's short in-process
/// job): their timings are not comparable with each other.</param>
/// <param name="Commit">The commit measured (with "-dirty" when the tree had changes).</param>
/// <param name="Machine">Host name, cores and CPU model.</param>
/// <param name="Date">When the run was exported.</param>
/// <param name="Benchmarks">Each benchmark's measurements, by name.</param>
public sealed record BenchmarkRun(string Kind, string Commit, string Machine, DateTimeOffset Date, IReadOnlyList<BenchmarkMeasurements> Benchmarks);
