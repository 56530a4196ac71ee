using System.Diagnostics;
using System.Globalization;
using Fabrik.Hosting;
using Fabrik.Testing;
using Fabrik.Testing.Load;
using Fabrik.Testing.SimulatedDevice;

namespace Fabrik.Benchmarks.DeviceSim;

/// <summary>
/// <c>-- device-sim [--instances N] [--pipeline-depth D] [--seconds S] [--concurrency C]
/// [--run-ms R] [--copy-gbps G] [--width W] [--max-batch B]</c>: how busy the GPU pipeline keeps a
/// device. The real server (Kestrel on a loopback port, the real scheduler and executors) serves a
/// model on the simulated device (by default 16 KiB of FP32 input per request, max batch 32, 8 ms
/// per batch run, copies at 0.25 GB/s each way); the load generator drives it over HTTP with the
/// binary extension at concurrency 64, first for a warm-up, then for one measured window; the
/// device's run stage reports the time it was busy over exactly that window. Prints each
/// instance's utilisation, and as its last line
/// <c>device utilisation: U (served S/s, ideal I/s)</c>, where U is the busy fraction of the
/// window (the lowest instance's when there are several), S the inferences answered per second
/// and I what the device could run at full batches: instances × max batch ÷ run time.
/// </summary>
internal static class DeviceSimCommand
{
    public static int Run(string[] args)
    {
        Settings settings;
        try
        {
            settings = Settings.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"device-sim: {e.Message}");
            return 2;
        }
        return RunAsync(settings).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(Settings settings)
    {
        var result = await MeasureAsync(settings, Console.Out);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"device utilisation: {result.Utilisation.Min():F2} (served {result.Served:F0}/s, ideal {result.Ideal:F0}/s)"));
        return result.Errors > 0 ? 1 : 0;
    }

    /// <summary>Serves the simulated model with <paramref name="settings"/>, drives it, and
    /// reports each instance's busy fraction over the measured window; progress goes to <paramref name="log"/>.</summary>
    public static async Task<DeviceSimResult> MeasureAsync(Settings settings, TextWriter log)
    {
        using var repository = new TemporaryRepository();
        new SimulatedModel("device_sim")
        {
            Width = settings.Width,
            MaxBatchSize = settings.MaxBatch,
            RunMilliseconds = settings.RunMilliseconds,
            CopyGigabytesPerSecond = settings.CopyGigabytesPerSecond,
            Instances = settings.Instances,
            ExtraConfig = settings.PipelineDepth is { } depth
                ? string.Create(CultureInfo.InvariantCulture, $"parameters {{ key: \"pipeline_depth\" value: {{ string_value: \"{depth}\" }} }}")
                : "",
        }.WriteTo(repository.Path);
        var backend = new SimulatedDeviceBackend();
        var options = ServerOptions.Parse(["--model-repository", repository.Path, "--http-port", "0", "--allow-grpc=false", "--allow-metrics=false", "--log-info=false"]);
        var server = await FabrikServer.StartAsync(options, configureHost: BackendRegistration.With(backend));
        try
        {
            var scheduler = server.Models.Resolve("device_sim", null).Scheduler;
            log.WriteLine($"device-sim: {settings.Instances} instance(s) on {scheduler.InstanceDevices}, pipeline depth {string.Join(", ", scheduler.PipelineDepths)}, " +
                $"{settings.Width * 4 / 1024} KiB a request, max batch {settings.MaxBatch}, {settings.RunMilliseconds} ms a run, {settings.CopyGigabytesPerSecond} GB/s copies, concurrency {settings.Concurrency}");
            var load = new LoadOptions
            {
                Model = "device_sim",
                Url = server.HttpAddress!.ToString(),
                Protocol = LoadProtocol.HttpBinary,
                ConcurrencyRange = (settings.Concurrency, settings.Concurrency, 1),
                MaxTrials = 1,
            };
            await new LoadGenerator(load with { MeasurementIntervalMilliseconds = settings.WarmupSeconds * 1000 }, TextWriter.Null).RunAsync(CancellationToken.None);

            var instances = backend.Instances;
            var busyBefore = new TimeSpan[instances.Count];
            var busyAfter = new TimeSpan[instances.Count];
            var runsBefore = new long[instances.Count];
            var rowsBefore = new long[instances.Count];
            var window = new Stopwatch();
            var results = await new LoadGenerator(load with { MeasurementIntervalMilliseconds = settings.Seconds * 1000 }, log,
                windowStarted: () =>
                {
                    for (var i = 0; i < instances.Count; i++)
                    {
                        (busyBefore[i], runsBefore[i], rowsBefore[i]) = (instances[i].BusyTime, instances[i].Runs, instances[i].RowsRun);
                    }
                    window.Start();
                },
                windowEnded: () =>
                {
                    window.Stop();
                    for (var i = 0; i < instances.Count; i++)
                    {
                        busyAfter[i] = instances[i].BusyTime;
                    }
                }).RunAsync(CancellationToken.None);
            var step = results[0];
            double[] utilisation = [.. instances.Select((_, i) => (busyAfter[i] - busyBefore[i]) / window.Elapsed)];
            double[] meanBatch = [.. instances.Select((instance, i) => (instance.RowsRun - rowsBefore[i]) / (double)Math.Max(1, instance.Runs - runsBefore[i]))];
            for (var i = 0; i < instances.Count; i++)
            {
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{instances[i].Device}: busy {utilisation[i]:F3} of the window, mean batch {meanBatch[i]:F1} rows"));
            }
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"latency p50 {step.P50 / 1000:F1} ms, p99 {step.P99 / 1000:F1} ms; server queue {step.ServerQueue / 1000:F1} ms, compute input {step.ServerComputeInput / 1000:F1} infer {step.ServerComputeInfer / 1000:F1} output {step.ServerComputeOutput / 1000:F1} ms per request; {step.Errors} errors"));
            var ideal = settings.Instances * settings.MaxBatch / (settings.RunMilliseconds / 1000);
            return new DeviceSimResult(utilisation, meanBatch, step.InferencesPerSecond, ideal, step.Errors);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    /// <summary>What to simulate and how to drive it (the command's options).</summary>
    public sealed record Settings(int Instances, int? PipelineDepth, int Seconds, int WarmupSeconds, int Concurrency, double RunMilliseconds,
        double CopyGigabytesPerSecond, int Width, int MaxBatch)
    {
        /// <summary>The issue's case: 16 KiB a request, max batch 32, 8 ms a run, 0.25 GB/s, concurrency 64, 10 s.</summary>
        public static Settings Default { get; } = new(1, null, 10, 3, 64, 8, 0.25, 4096, 32);

        public static Settings Parse(string[] args)
        {
            var settings = Default;
            for (var i = 0; i < args.Length; i++)
            {
                var name = args[i];
                var value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value");
                settings = name switch
                {
                    "--instances" => settings with { Instances = Integer(name, value) },
                    "--pipeline-depth" => settings with { PipelineDepth = Integer(name, value) },
                    "--seconds" => settings with { Seconds = Integer(name, value) },
                    "--warmup-seconds" => settings with { WarmupSeconds = Integer(name, value) },
                    "--concurrency" => settings with { Concurrency = Integer(name, value) },
                    "--run-ms" => settings with { RunMilliseconds = Number(name, value) },
                    "--copy-gbps" => settings with { CopyGigabytesPerSecond = Number(name, value) },
                    "--width" => settings with { Width = Integer(name, value) },
                    "--max-batch" => settings with { MaxBatch = Integer(name, value) },
                    _ => throw new ArgumentException($"unknown option '{name}'"),
                };
            }
            return settings;
        }

        private static int Integer(string name, string text) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
                ? value
                : throw new ArgumentException($"{name} takes a positive integer, not '{text}'");

        private static double Number(string name, string text) =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 && double.IsFinite(value)
                ? value
                : throw new ArgumentException($"{name} takes a positive number, not '{text}'");
    }
}
