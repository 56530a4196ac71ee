using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Fabrik.Testing.Load;

/// <summary>One measured step of a sweep: the load applied and what it achieved. Latencies and
/// server times are in microseconds; server times are per request, from the statistics extension.</summary>
public sealed record StepResult(
    string Mode, int Load, double InferencesPerSecond, double P50, double P90, double P95, double P99, double Average,
    double ServerQueue, double ServerComputeInput, double ServerComputeInfer, double ServerComputeOutput,
    long Requests, long Errors, bool Stable, int Windows);

/// <summary>
/// A perf_analyzer-style load generator. For each step of the sweep it keeps the load running and
/// measures windows of --measurement-interval; the step is stable once three consecutive windows
/// agree within --stability-percentage on throughput and on p50 latency, and it reports those
/// three windows together. Concurrency mode keeps N requests in flight; request-rate mode sends
/// at a fixed rate whatever the responses do. <paramref name="windowStarted"/> and
/// <paramref name="windowEnded"/>, when given, are called at the edges of every measured window,
/// so that a caller reads its own counters over exactly the window (the device-sim benchmark's
/// device utilisation).
/// </summary>
public sealed class LoadGenerator(LoadOptions options, TextWriter progress, Action? windowStarted = null, Action? windowEnded = null)
{
    public async Task<IReadOnlyList<StepResult>> RunAsync(CancellationToken cancellation)
    {
        using var client = await InferenceClients.CreateAsync(options, cancellation);
        await client.InferAsync(cancellation); // warm the connection and the server's path
        var results = new List<StepResult>();
        var (mode, range) = options.RequestRateRange is { } rates ? ("Request Rate", rates) : ("Concurrency", options.ConcurrencyRange);
        for (var load = range.Start; load <= range.End; load += range.Step)
        {
            results.Add(await MeasureStepAsync(client, mode, load, cancellation));
        }
        return results;
    }

    private async Task<StepResult> MeasureStepAsync(IInferenceClient client, string mode, int load, CancellationToken cancellation)
    {
        var recorder = new Recorder();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var driver = mode == "Concurrency"
            ? Task.WhenAll(Enumerable.Range(0, load).Select(_ => ConcurrentWorkerAsync(client, recorder, stop.Token)))
            : RateDriverAsync(client, recorder, load, stop.Token);

        var windows = new List<Window>();
        var stable = false;
        try
        {
            for (var trial = 0; trial < options.MaxTrials && !stable; trial++)
            {
                var before = await client.CountersAsync(cancellation);
                recorder.Swap();
                windowStarted?.Invoke();
                var started = Stopwatch.GetTimestamp();
                await Task.Delay(options.MeasurementIntervalMilliseconds, cancellation);
                var (latencies, errors) = recorder.Swap();
                var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                windowEnded?.Invoke();
                var after = await client.CountersAsync(cancellation);
                var window = new Window(latencies, errors, seconds, options.BatchSize, before, after);
                windows.Add(window);
                stable = IsStable(windows);
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {mode.ToLowerInvariant()} {load}: window {trial + 1}: {window.Throughput:F1} infer/s, p50 {window.Percentile(50):F0} µs, p99 {window.Percentile(99):F0} µs{(errors > 0 ? $", {errors} errors" : "")}{(stable ? " (stable)" : "")}"));
            }
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await driver;
            }
            catch (OperationCanceledException)
            {
            }
        }
        return Summarize(mode, load, windows.TakeLast(3).ToList(), stable, windows.Count);
    }

    private bool IsStable(List<Window> windows)
    {
        if (windows.Count < 3)
        {
            return false;
        }
        var last = windows.TakeLast(3).ToList();
        bool Within(Func<Window, double> metric)
        {
            var mean = last.Average(metric);
            return mean > 0 && last.All(w => Math.Abs(metric(w) - mean) <= mean * options.StabilityPercentage / 100);
        }
        return Within(w => w.Throughput) && Within(w => w.Percentile(50));
    }

    private static async Task ConcurrentWorkerAsync(IInferenceClient client, Recorder recorder, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            await SendAsync(client, recorder, stop);
        }
    }

    /// <summary>Sends at <paramref name="rate"/> requests per second on a fixed schedule; requests
    /// that fall due together (the timer is coarser than the interval) go out together.</summary>
    private static async Task RateDriverAsync(IInferenceClient client, Recorder recorder, int rate, CancellationToken stop)
    {
        var inFlight = new List<Task>();
        var start = Stopwatch.GetTimestamp();
        long sent = 0;
        while (!stop.IsCancellationRequested)
        {
            var due = (long)(Stopwatch.GetElapsedTime(start).TotalSeconds * rate);
            for (; sent < due; sent++)
            {
                inFlight.Add(SendAsync(client, recorder, stop));
            }
            inFlight.RemoveAll(task => task.IsCompleted);
            await Task.Delay(1, stop);
        }
        await Task.WhenAll(inFlight);
    }

    private static async Task SendAsync(IInferenceClient client, Recorder recorder, CancellationToken stop)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await client.InferAsync(stop);
            recorder.Record(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is HttpRequestException or Grpc.Core.RpcException or TaskCanceledException or Fabrik.Client.FabrikException)
        {
            recorder.Error();
        }
    }

    private StepResult Summarize(string mode, int load, List<Window> windows, bool stable, int count)
    {
        var latencies = windows.SelectMany(w => w.Latencies).Order().ToArray();
        var requests = windows.Sum(w => w.ServerRequests);
        double PerRequest(Func<Window, long> ns) => requests == 0 ? 0 : windows.Sum(ns) / 1000.0 / requests;
        return new StepResult(
            mode, load,
            windows.Sum(w => w.Latencies.Length * (double)options.BatchSize) / windows.Sum(w => w.Seconds),
            Window.Percentile(latencies, 50), Window.Percentile(latencies, 90), Window.Percentile(latencies, 95), Window.Percentile(latencies, 99),
            latencies.Length == 0 ? 0 : latencies.Average(),
            PerRequest(w => w.After.QueueNs - w.Before.QueueNs),
            PerRequest(w => w.After.InputNs - w.Before.InputNs),
            PerRequest(w => w.After.InferNs - w.Before.InferNs),
            PerRequest(w => w.After.OutputNs - w.Before.OutputNs),
            latencies.Length, windows.Sum(w => w.Errors), stable, count);
    }

    /// <summary>Collects latencies for the current window; Swap hands them over and starts anew.</summary>
    private sealed class Recorder
    {
        private ConcurrentQueue<double> _latencies = new();
        private long _errors;

        public void Record(double microseconds) => Volatile.Read(ref _latencies).Enqueue(microseconds);

        public void Error() => Interlocked.Increment(ref _errors);

        public (double[] Latencies, long Errors) Swap()
        {
            var latencies = Interlocked.Exchange(ref _latencies, new ConcurrentQueue<double>());
            return ([.. latencies], Interlocked.Exchange(ref _errors, 0));
        }
    }

    private sealed record Window(double[] Latencies, long Errors, double Seconds, int BatchSize, ServerCounters Before, ServerCounters After)
    {
        private readonly double[] _sorted = [.. Latencies.Order()];

        public double Throughput => Latencies.Length * (double)BatchSize / Seconds;

        public long ServerRequests => After.Success - Before.Success;

        public double Percentile(double p) => Percentile(_sorted, p);

        public static double Percentile(double[] sorted, double p) =>
            sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
