using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using Fabrik.Testing.Load;

namespace Fabrik.Benchmarks.Load;

/// <summary>
/// Measures the ratios of docs/performance.md side by side on this machine, one server at a time
/// so that none competes with another for the cores: Fabrik on the sample models, the minimal
/// Kestrel + ONNX Runtime endpoint, the FastAPI + PyTorch peer, ONNX Runtime in process, and
/// Fabrik with dynamic batching on and off. Run through Benchmarks/performance-report.sh.
/// </summary>
public sealed partial class PerformanceReport(string output, int intervalMilliseconds, TextWriter log)
{
    private const int FabrikPort = 8100, FabrikGrpcPort = 8101, MinimalPort = 8200, PeerPort = 9100, MeteredPort = 8300, MeteredMetricsPort = 8302, SecuredPort = 8400,
        UncachedPort = 8500, MinimalTlsPort = 8600;

    /// <summary>Seconds of each wrk or h2load run (the issue's measurements used 8).</summary>
    private int _externalSeconds = 8;

    private readonly List<string> _commands = [];
    private readonly Dictionary<string, StepResult> _runs = new(StringComparer.Ordinal);
    private readonly List<string> _notes = [];

    public static int Run(string[] args)
    {
        var output = Path.Combine(BenchmarkModels.RepositoryRoot, "docs", "performance.md");
        var interval = 2000;
        var externalSeconds = 8;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--out": output = args[++i]; break;
                case "-p": interval = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--external-seconds": externalSeconds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"report: unknown option '{args[i]}'");
            }
        }
        new PerformanceReport(output, interval, Console.Out) { _externalSeconds = externalSeconds }.RunAsync().GetAwaiter().GetResult();
        return 0;
    }

    public async Task RunAsync()
    {
        var root = BenchmarkModels.RepositoryRoot;
        var models = Path.Combine(root, "models");

        // Every server runs as its own process for the whole comparison; the two sides of each
        // ratio are measured alternately, three rounds each, and compared by their medians, so
        // that the machine's drift over minutes falls on both sides alike.
        await using (var fabrik = await StartAsync("fabrik", FabrikPort, "/v2/health/ready", FabrikArguments(models)))
        await using (var minimal = await StartAsync("minimal", MinimalPort, "/v2/models/simple", ["dotnet", BenchmarksDll(), "minimal", "--port", MinimalPort.ToString(CultureInfo.InvariantCulture)]))
        await using (var peer = await TryStartPeerAsync(root))
        {
            foreach (var model in new[] { "simple", "mlp" })
            {
                foreach (var format in new[] { "json", "binary" })
                {
                    await CompareAsync($"{model} {format} c32", $"fabrik {model} {format} c32", FabrikPort, $"minimal {model} {format} c32", MinimalPort,
                        model, "--http-format", format, "--concurrency-range", "32");
                }
            }
            foreach (var format in new[] { "json", "binary" })
            {
                await CompareAsync($"simple {format} c1", $"fabrik simple {format} c1", FabrikPort, $"minimal simple {format} c1", MinimalPort,
                    "simple", "--http-format", format, "--concurrency-range", "1");
            }
            log.WriteLine("** simple gRPC ÷ HTTP binary c32");
            for (var round = 0; round < Rounds; round++)
            {
                await MeasureAsync($"fabrik simple grpc c32 #{round + 1}", "simple", FabrikGrpcPort, "-i", "grpc", "--concurrency-range", "32");
                await MeasureAsync($"fabrik simple binary c32 (grpc pair) #{round + 1}", "simple", FabrikPort, "--http-format", "binary", "--concurrency-range", "32");
            }

            // The same ratios from clients written in C (wrk, h2load), alternately as above.
            await CompareExternalAsync();

            // The same server with metrics on (histograms recorded per request, scraped as
            // Prometheus would be) against metrics off.
            await using (var metered = await StartAsync("fabrik (metrics on)", MeteredPort, "/v2/health/ready", MeteredArguments(models)))
            using (var scraper = new PeriodicScrape($"http://localhost:{MeteredMetricsPort}/metrics"))
            {
                await CompareAsync("metrics simple binary c32", "metrics on simple", MeteredPort, "metrics off simple", FabrikPort,
                    "simple", "--http-format", "binary", "--concurrency-range", "32");
            }

            // The hardened listener (TLS and API keys) against the plain one, and against the
            // floor for a TLS listener: the minimal endpoint with the same certificate.
            using (var secured = new SecuredListener())
            await using (var tls = await StartAsync("fabrik (TLS + API keys)", SecuredPort, "/v2/health/ready", SecuredArguments(models, secured), secured.CaPath))
            await using (var minimalTls = await StartAsync("minimal (TLS)", MinimalTlsPort, "/v2/models/simple",
                ["dotnet", BenchmarksDll(), "minimal", "--port", MinimalTlsPort.ToString(CultureInfo.InvariantCulture), "--tls-cert", secured.CertificatePath, "--tls-key", secured.KeyPath], secured.CaPath))
            {
                string[] Secured(int port, params string[] flags) =>
                    [.. flags, "-u", $"https://localhost:{port}", "--ssl-https-ca-certificates-file", secured.CaPath, "-H", $"Authorization: Bearer {secured.Key}"];
                string[] simple = ["--http-format", "binary", "--concurrency-range", "32"];
                string[] cnn = ["--http-format", "binary", "--concurrency-range", "4"];
                log.WriteLine("** TLS + API keys simple binary c32; cnn binary c4");
                for (var round = 0; round < Rounds; round++)
                {
                    await MeasureAsync($"tls+auth on simple #{round + 1}", "simple", SecuredPort, Secured(SecuredPort, simple));
                    await MeasureAsync($"tls+auth off simple #{round + 1}", "simple", FabrikPort, simple);
                    await MeasureAsync($"minimal tls simple #{round + 1}", "simple", MinimalTlsPort, Secured(MinimalTlsPort, simple));
                    await MeasureAsync($"tls+auth on cnn #{round + 1}", "cnn", SecuredPort, Secured(SecuredPort, cnn));
                    await MeasureAsync($"tls+auth off cnn #{round + 1}", "cnn", FabrikPort, cnn);
                }
            }

            for (var concurrency = 1; concurrency <= 4; concurrency++)
            {
                await MeasureAsync($"fabrik cnn binary b4 c{concurrency}", "cnn", FabrikPort, "-b", "4", "--concurrency-range", concurrency.ToString(CultureInfo.InvariantCulture));
            }
            var best = _runs.Where(r => r.Key.StartsWith("fabrik cnn binary b4", StringComparison.Ordinal)).MaxBy(r => r.Value.InferencesPerSecond).Value.Load;
            for (var round = 0; round < Rounds; round++)
            {
                await MeasureAsync($"fabrik cnn served b4 c{best} #{round + 1}", "cnn", FabrikPort, "-b", "4", "--concurrency-range", best.ToString(CultureInfo.InvariantCulture));
                _inProcessCnn.Add(MeasureInProcessCnn(Path.Combine(models, "cnn", "1", "model.onnx"), batch: 4));
            }
            _bestCnnConcurrency = best;

            if (peer is not null)
            {
                await CompareAsync("mlp_torch json c32", "fabrik mlp_torch json c32", FabrikPort, "fastapi mlp_torch json c32", PeerPort,
                    "mlp_torch", "--http-format", "json", "--concurrency-range", "32");
            }
        }

        using (var batching = new TemporaryModels(models))
        {
            batching.Add("mlp", "mlp_batched", "dynamic_batching { }");
            batching.Add("cnn", "cnn_batched", "dynamic_batching { }");
            batching.AddUnbatched("mlp", "mlp_unbatched", inputDims: "-1, 16", outputDims: "-1, 4");
            batching.AddUnbatched("cnn", "cnn_unbatched", inputDims: "-1, 3, 64, 64", outputDims: "-1, 10");
            await using var fabrik = await StartAsync("fabrik (batching on and off)", FabrikPort, "/v2/health/ready", FabrikArguments(batching.Path));
            foreach (var model in new[] { "mlp", "cnn" })
            {
                for (var round = 0; round < Rounds; round++)
                {
                    await MeasureAsync($"batching on {model} #{round + 1}", $"{model}_batched", FabrikPort, "--concurrency-range", "32");
                    await MeasureAsync($"batching off {model} #{round + 1}", $"{model}_unbatched", FabrikPort, "--concurrency-range", "32");
                }
                _notes.Add($"Batch sizes formed for `{model}` at concurrency 32 over the three rounds (size x executions): {await BatchSizesAsync($"{model}_batched")}.");
            }
        }

        // The response cache on mlp. The load generator sends one request over and over, so where
        // the cache holds it every request after the first is a hit; where the cache is smaller
        // than one entry every request is a miss (the key made and looked up, the model run, the
        // store refused), on the same configuration otherwise.
        using (var caching = new TemporaryModels(models))
        {
            caching.Add("mlp", "mlp_cached", "response_cache { enable: true }");
            await using var hits = await StartAsync("fabrik (cache holds mlp)", FabrikPort, "/v2/health/ready", [.. FabrikArguments(caching.Path), "--cache-config", "local,size=1048576"]);
            await using var misses = await StartAsync("fabrik (cache smaller than an entry)", UncachedPort, "/v2/health/ready", CacheMissArguments(caching.Path));
            foreach (var concurrency in new[] { "1", "32" })
            {
                await CompareAsync($"cache mlp c{concurrency}", $"cache hit mlp c{concurrency}", FabrikPort, $"cache miss mlp c{concurrency}", UncachedPort,
                    "mlp_cached", "--http-format", "binary", "--concurrency-range", concurrency);
            }
        }

        // A realistic model: ResNet-50 (generated on demand, not committed), served ÷ in process.
        var resnetRepository = Path.Combine(root, "artifacts", "models");
        var resnetPath = Path.Combine(resnetRepository, "resnet50", "1", "model.onnx");
        if (File.Exists(resnetPath))
        {
            var instances = new Fabrik.Execution.OnnxRuntime.OnnxRuntimeBackend().DefaultCpuInstanceCount;
            await using var fabrik = await StartAsync("fabrik (resnet50)", FabrikPort, "/v2/health/ready", FabrikArguments(resnetRepository));
            for (var round = 0; round < Rounds; round++)
            {
                // Concurrency twice the instances keeps every instance busy; longer windows, as a
                // 2-core host serves ResNet-50 at tens of images per second.
                await MeasureAsync($"fabrik resnet50 served c{2 * instances} #{round + 1}", "resnet50", FabrikPort,
                    "--http-format", "binary", "--concurrency-range", (2 * instances).ToString(CultureInfo.InvariantCulture), "-p", (3 * intervalMilliseconds).ToString(CultureInfo.InvariantCulture));
                var inProcess = InProcessCommand.Measure(resnetPath, batch: 1, sessionCount: instances, gpu: null, TimeSpan.FromMilliseconds(intervalMilliseconds * 5));
                log.WriteLine($"* in-process ONNX Runtime resnet50 batch 1, {instances} session(s): {inProcess:F1} images/s");
                _inProcessResnet.Add(inProcess);
            }
            _resnetConcurrency = 2 * instances;
        }
        else
        {
            _notes.Add("ResNet-50 was not measured: generate it first (`/usr/bin/python3 models/generate.py --resnet50`, Debian's python3-torchvision; the script does this when it can).");
        }

        // The GPU pipeline on the simulated device (Benchmarks/device-sim.sh): one batch at a time
        // against the pipeline, one instance and two.
        foreach (var instances in new[] { 1, 2 })
        {
            foreach (var depth in new int?[] { 1, null })
            {
                var settings = DeviceSim.DeviceSimCommand.Settings.Default with { Instances = instances, PipelineDepth = depth };
                _deviceSim[(instances, depth is null)] = await DeviceSim.DeviceSimCommand.MeasureAsync(settings, log);
            }
        }
        _notes.Add("Simulated device (`Benchmarks/device-sim.sh`, the real server and scheduler over a simulated device: 16 KiB a request, max batch 32, 8 ms a run, copies at 0.25 GB/s each way, HTTP binary at concurrency 64 for 10 s): " + string.Join("; ",
            _deviceSim.Select(entry => string.Create(CultureInfo.InvariantCulture,
                $"{entry.Key.Instances} instance(s), {(entry.Key.Pipeline ? "pipeline" : "one batch at a time")}: busy {string.Join(" and ", entry.Value.Utilisation.Select(u => u.ToString("F2", CultureInfo.InvariantCulture)))}, served {entry.Value.Served:F0}/s of an ideal {entry.Value.Ideal:F0}/s, mean batch {string.Join(" and ", entry.Value.MeanBatch.Select(b => b.ToString("F1", CultureInfo.InvariantCulture)))}"))) + ".");

        // What batching can give on this CPU at best: ONNX Runtime alone, one session with one
        // instance's threads, per image at batch 1 and at cnn's max_batch_size.
        var cnnPath = Path.Combine(models, "cnn", "1", "model.onnx");
        var single = MeasureInProcessCnn(cnnPath, batch: 1, sessionCount: 1);
        var full = MeasureInProcessCnn(cnnPath, batch: 8, sessionCount: 1);
        _notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"ONNX Runtime alone on `cnn`, one session with one instance's threads: {single:F1} images/s at batch 1, {full:F1} at batch 8 (batch 8 ÷ batch 1 = {full / single:F2}). On a CPU a convolution gains nothing from a larger batch, so the batcher can only add its gather and scatter; the large gains are a GPU's."));

        // The TLS row's client encrypts on the same cores as the server; what the server itself
        // pays is measured apart (Benchmarks/tls-cost.sh) and explained in docs/security.md.
        _notes.Add("TLS + API keys ÷ plain: here the client's own TLS shares the cores with the server. `Benchmarks/tls-cost.sh` measures the server's own CPU per request with the client on another core, and docs/security.md (Cost) shows why ≥ 0.9 is out of reach on `simple`: .NET's `SslStream` alone costs the server about 2 µs of the 2 µs that 0.9 allows on an 18 µs request.");

        await File.WriteAllTextAsync(output, Render(FeatureCosts.Kept(output)));
        log.WriteLine($"Wrote {output}");
    }

    private const int Rounds = 3;

    private readonly List<double> _inProcessCnn = [];
    private readonly Dictionary<(int Instances, bool Pipeline), DeviceSim.DeviceSimResult> _deviceSim = [];
    private readonly List<double> _inProcessResnet = [];
    private int _resnetConcurrency;
    private int _bestCnnConcurrency;

    /// <summary>wrk against both servers for every ratio the load generator measured, and
    /// h2load (gRPC) against wrk (HTTP binary) on Fabrik; alternately, <see cref="Rounds"/> rounds.</summary>
    private async Task CompareExternalAsync()
    {
        if (ExternalClients.Missing("wrk") is { } noWrk)
        {
            _notes.Add($"The wrk columns are empty: {noWrk}.");
            return;
        }
        var fabrik = new Uri($"http://127.0.0.1:{FabrikPort}");
        var minimal = new Uri($"http://127.0.0.1:{MinimalPort}");
        var grpc = new Uri($"http://127.0.0.1:{FabrikGrpcPort}");
        async Task Wrk(string name, Uri server, string model, string format, int concurrency)
        {
            _commands.Add($"wrk -t1 -c{concurrency} -d{_externalSeconds}s --latency -s post.lua {server}v2/models/{model}/infer   # post.lua POSTs the {format} request");
            log.WriteLine($"* {name}");
            _runs[name] = await ExternalClients.WrkAsync(server, model, format == "binary", concurrency, _externalSeconds, default);
        }
        foreach (var (model, format, concurrency) in new[] { ("simple", "json", 32), ("simple", "binary", 32), ("mlp", "json", 32), ("mlp", "binary", 32), ("simple", "json", 1), ("simple", "binary", 1) })
        {
            log.WriteLine($"** wrk {model} {format} c{concurrency}");
            for (var round = 0; round < Rounds; round++)
            {
                await Wrk($"wrk fabrik {model} {format} c{concurrency} #{round + 1}", fabrik, model, format, concurrency);
                await Wrk($"wrk minimal {model} {format} c{concurrency} #{round + 1}", minimal, model, format, concurrency);
            }
        }
        if (ExternalClients.Missing("h2load") is { } noH2load)
        {
            _notes.Add($"gRPC was not measured with a C client: {noH2load}.");
            return;
        }
        log.WriteLine("** h2load gRPC ÷ wrk binary c32");
        for (var round = 0; round < Rounds; round++)
        {
            _commands.Add($"h2load -t1 -c32 -m1 -D {_externalSeconds} -d message -H 'content-type: application/grpc' -H 'te: trailers' {grpc}inference.GRPCInferenceService/ModelInfer   # message: one length-prefixed ModelInferRequest for simple");
            log.WriteLine($"* h2load fabrik simple grpc c32 #{round + 1}");
            _runs[$"h2load fabrik simple grpc c32 #{round + 1}"] = await ExternalClients.H2loadGrpcAsync(grpc, fabrik, "simple", 32, _externalSeconds, default);
            await Wrk($"wrk fabrik simple binary c32 (grpc pair) #{round + 1}", fabrik, "simple", "binary", 32);
        }
    }

    /// <summary>Measures two servers alternately, <see cref="Rounds"/> times each.</summary>
    private async Task CompareAsync(string label, string first, int firstPort, string second, int secondPort, string model, params string[] flags)
    {
        log.WriteLine($"** {label}");
        for (var round = 0; round < Rounds; round++)
        {
            await MeasureAsync($"{first} #{round + 1}", model, firstPort, flags);
            await MeasureAsync($"{second} #{round + 1}", model, secondPort, flags);
        }
    }

    /// <summary>The median over the rounds of runs named "<paramref name="name"/> #n".</summary>
    private double? Median(string name, Func<StepResult, double> metric)
    {
        var values = _runs.Where(r => r.Key.StartsWith(name + " #", StringComparison.Ordinal)).Select(r => metric(r.Value)).Order().ToArray();
        return values.Length == 0 ? null : values[values.Length / 2];
    }

    private string[] FabrikArguments(string repository) =>
        ["dotnet", Path.Combine(BenchmarkModels.RepositoryRoot, "Runtime", "bin", "Release", "net10.0", "fabrik.dll"),
         "--model-repository", repository, "--http-port", FabrikPort.ToString(CultureInfo.InvariantCulture), "--grpc-port", FabrikGrpcPort.ToString(CultureInfo.InvariantCulture), "--allow-metrics=false"];

    private static string[] SecuredArguments(string repository, SecuredListener secured) =>
        ["dotnet", Path.Combine(BenchmarkModels.RepositoryRoot, "Runtime", "bin", "Release", "net10.0", "fabrik.dll"),
         "--model-repository", repository, "--http-port", SecuredPort.ToString(CultureInfo.InvariantCulture), "--allow-grpc=false", "--allow-metrics=false",
         "--http-tls-cert", secured.CertificatePath, "--http-tls-key", secured.KeyPath, "--auth-keys", secured.KeysPath];

    private static string[] CacheMissArguments(string repository) =>
        ["dotnet", Path.Combine(BenchmarkModels.RepositoryRoot, "Runtime", "bin", "Release", "net10.0", "fabrik.dll"),
         "--model-repository", repository, "--http-port", UncachedPort.ToString(CultureInfo.InvariantCulture), "--allow-grpc=false", "--allow-metrics=false",
         "--cache-config", "local,size=1"];

    private static string[] MeteredArguments(string repository) =>
        ["dotnet", Path.Combine(BenchmarkModels.RepositoryRoot, "Runtime", "bin", "Release", "net10.0", "fabrik.dll"),
         "--model-repository", repository, "--http-port", MeteredPort.ToString(CultureInfo.InvariantCulture), "--allow-grpc=false",
         "--metrics-port", MeteredMetricsPort.ToString(CultureInfo.InvariantCulture)];

    /// <summary>Scrapes a metrics endpoint every 5 s, as a Prometheus server would, while a measurement runs.</summary>
    private sealed class PeriodicScrape : IDisposable
    {
        private readonly HttpClient _client = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        public PeriodicScrape(string url) => _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await _client.GetStringAsync(url, _stop.Token);
                    await Task.Delay(5000, _stop.Token);
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
                {
                    return;
                }
            }
        });

        public void Dispose()
        {
            _stop.Cancel();
            _loop.GetAwaiter().GetResult();
            _stop.Dispose();
            _client.Dispose();
        }
    }

    private static string BenchmarksDll() => typeof(PerformanceReport).Assembly.Location;

    private async Task<ProcessHandle?> TryStartPeerAsync(string root)
    {
        try
        {
            return await StartAsync("FastAPI peer", PeerPort, "/v2/models/mlp_torch",
                ["/usr/bin/python3", Path.Combine(root, "Benchmarks", "Peers", "fastapi_peer.py"), "--port", PeerPort.ToString(CultureInfo.InvariantCulture), "--workers", "2"]);
        }
        catch (TimeoutException)
        {
            _notes.Add("The FastAPI peer did not start (it needs Debian's python3-fastapi, python3-uvicorn and python3-torch); its ratio is not measured.");
            return null;
        }
    }

    /// <summary>Starts a server process and waits until <paramref name="readyPath"/> answers 200
    /// on <paramref name="port"/>; over https, trusting <paramref name="tlsCaFile"/>, when given.</summary>
    private async Task<ProcessHandle> StartAsync(string name, int port, string readyPath, string[] command, string? tlsCaFile = null)
    {
        _commands.Add(string.Join(" ", command));
        log.WriteLine($"* starting {name}");
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in command[1..])
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start)!;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var handle = new ProcessHandle(process);
        try
        {
            await WaitForAsync(port, readyPath, tlsCaFile);
        }
        catch
        {
            await handle.DisposeAsync();
            throw;
        }
        return handle;
    }

    private async Task MeasureAsync(string name, string model, int port, params string[] flags)
    {
        string[] arguments = ["-m", model, "-u", $"localhost:{port}", "-p", intervalMilliseconds.ToString(CultureInfo.InvariantCulture), "-r", "6", .. flags];
        _commands.Add("dotnet run -c Release --project Benchmarks -- load " + string.Join(" ", arguments));
        log.WriteLine($"* {name}");
        var results = await new LoadGenerator(LoadOptions.Parse(arguments), log).RunAsync(default);
        _runs[name] = results[0];
    }

    /// <summary>ONNX Runtime alone on cnn, with the sessions and thread settings Fabrik gives the
    /// model by default (Triton's two CPU instances, the cores shared between them): one thread per
    /// session runs Run in a loop, all at once. Returns images per second over all sessions.</summary>
    /// <param name="path">The cnn model file.</param>
    /// <param name="batch">Images per Run.</param>
    /// <param name="sessionCount">Sessions to run at once; Fabrik's default instance count when null.
    /// Each session's threads are what Fabrik gives one instance by default.</param>
    private double MeasureInProcessCnn(string path, int batch, int? sessionCount = null)
    {
        var instances = new Fabrik.Execution.OnnxRuntime.OnnxRuntimeBackend().DefaultCpuInstanceCount;
        var sessionsRunning = sessionCount ?? instances;
        var imagesPerSecond = InProcessCommand.Measure(path, batch, sessionsRunning, gpu: null, TimeSpan.FromMilliseconds(intervalMilliseconds * 3), threadsSharedBy: instances);
        log.WriteLine($"* in-process ONNX Runtime cnn batch {batch}, {sessionsRunning} session(s): {imagesPerSecond:F1} images/s");
        return imagesPerSecond;
    }

    private static async Task<string> BatchSizesAsync(string model)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://localhost:{FabrikPort}") };
        var stats = (await http.GetFromJsonAsync<JsonNode>($"/v2/models/{model}/stats"))!["model_stats"]![0]!;
        return string.Join(", ", stats["batch_stats"]!.AsArray().Select(b => $"{(int)b!["batch_size"]!}x{(long)b["compute_infer"]!["count"]!}"));
    }

    private static async Task WaitForAsync(int port, string path, string? tlsCaFile)
    {
        using var http = new HttpClient(InferenceClients.Handler(new LoadOptions { TlsCaFile = tlsCaFile }))
        {
            BaseAddress = new Uri($"{(tlsCaFile is null ? "http" : "https")}://localhost:{port}"),
            Timeout = TimeSpan.FromSeconds(2),
        };
        for (var attempt = 0; attempt < 120; attempt++)
        {
            try
            {
                using var response = await http.GetAsync(path);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(500);
        }
        throw new TimeoutException($"nothing answered on port {port}");
    }

    private string Render(string featureCosts)
    {
        // The median of the rounds' own ratios: the two sides of a round ran back to back, so the
        // machine's drift between rounds cancels within each ratio instead of landing on whichever
        // side's median happens to come from a slow minute.
        double? Ratio(string a, string b, Func<StepResult, double> metric)
        {
            var ratios = new List<double>();
            for (var round = 1; _runs.TryGetValue($"{a} #{round}", out var x); round++)
            {
                if (_runs.TryGetValue($"{b} #{round}", out var y) && metric(y) != 0)
                {
                    ratios.Add(metric(x) / metric(y));
                }
            }
            return ratios.Count == 0 ? null : ratios.Order().ElementAt(ratios.Count / 2);
        }
        static double Throughput(StepResult r) => r.InferencesPerSecond;
        static double P50(StepResult r) => r.P50;
        var inProcessCnn = _inProcessCnn.Count == 0 ? 0 : _inProcessCnn.Order().ElementAt(_inProcessCnn.Count / 2);
        var servedCnn = Median($"fabrik cnn served b4 c{_bestCnnConcurrency}", Throughput);

        static double P99(StepResult r) => r.P99;
        // Each ratio from our load generator and from the C clients (wrk; h2load for gRPC).
        (double?, double?) Both(string a, string b, Func<StepResult, double> metric) => (Ratio(a, b, metric), Ratio("wrk " + a, "wrk " + b, metric));
        var rows = new List<(string Ratio, (double? Ours, double? C) Value, string Target, bool Higher, double Bound)>();
        foreach (var (model, format) in new[] { ("simple", "JSON"), ("simple", "binary"), ("mlp", "JSON"), ("mlp", "binary") })
        {
            var key = $"{model} {format.ToLowerInvariant()} c32";
            rows.Add(($"Fabrik ÷ minimal endpoint, throughput, concurrency 32, `{model}`, {format}", Both($"fabrik {key}", $"minimal {key}", Throughput), "≥ 1.0", true, 1.0));
            rows.Add(($"Fabrik ÷ minimal endpoint, p99 latency, concurrency 32, `{model}`, {format}", Both($"fabrik {key}", $"minimal {key}", P99), "≤ 1.2", false, 1.2));
        }
        foreach (var format in new[] { "JSON", "binary" })
        {
            var key = $"simple {format.ToLowerInvariant()} c1";
            rows.Add(($"Fabrik ÷ minimal endpoint, p50 latency, concurrency 1, `simple`, {format}", Both($"fabrik {key}", $"minimal {key}", P50), "≤ 1.2", false, 1.2));
            rows.Add(($"Fabrik ÷ minimal endpoint, p99 latency, concurrency 1, `simple`, {format}", Both($"fabrik {key}", $"minimal {key}", P99), "≤ 1.5", false, 1.5));
        }
        rows.Add(("Fabrik gRPC ÷ Fabrik HTTP binary, throughput, concurrency 32, `simple` (C clients: h2load ÷ wrk)",
            (Ratio("fabrik simple grpc c32", "fabrik simple binary c32 (grpc pair)", Throughput), Ratio("h2load fabrik simple grpc c32", "wrk fabrik simple binary c32 (grpc pair)", Throughput)), "≥ 1.0", true, 1.0));
        rows.Add(($"Fabrik served `cnn` (binary, batch 4, best concurrency {_bestCnnConcurrency}) ÷ ONNX Runtime in process (batch 4, same sessions and threads)", (servedCnn is { } served && inProcessCnn > 0 ? served / inProcessCnn : null, null), "≥ 0.9", true, 0.9));
        var inProcessResnet = _inProcessResnet.Count == 0 ? 0 : _inProcessResnet.Order().ElementAt(_inProcessResnet.Count / 2);
        rows.Add(($"Fabrik served `resnet50` (binary, batch 1, concurrency {_resnetConcurrency}) ÷ ONNX Runtime in process (batch 1, same sessions and threads), images/s",
            (Median($"fabrik resnet50 served c{_resnetConcurrency}", Throughput) is { } resnet && inProcessResnet > 0 ? resnet / inProcessResnet : null, null), "≥ 0.9", true, 0.9));
        rows.Add(("Fabrik TorchSharp `mlp_torch` ÷ FastAPI peer, throughput, concurrency 32, JSON", (Ratio("fabrik mlp_torch json c32", "fastapi mlp_torch json c32", Throughput), null), "≥ 20", true, 20));
        rows.Add(("Dynamic batching on ÷ off, throughput, concurrency 32, `mlp`", (Ratio("batching on mlp", "batching off mlp", Throughput), null), "≥ 1.0", true, 1.0));
        rows.Add(("Dynamic batching on ÷ off, throughput, concurrency 32, `cnn`", (Ratio("batching on cnn", "batching off cnn", Throughput), null), "≥ 1.0", true, 1.0));
        rows.Add(("Response cache hit ÷ miss, p50 latency, concurrency 1, `mlp`, binary", (Ratio("cache hit mlp c1", "cache miss mlp c1", P50), null), "≤ 1.0", false, 1.0));
        rows.Add(("Response cache hit ÷ miss, throughput, concurrency 32, `mlp`, binary", (Ratio("cache hit mlp c32", "cache miss mlp c32", Throughput), null), "≥ 1.0", true, 1.0));
        rows.Add(("Metrics on ÷ off, throughput, concurrency 32, `simple`, binary", (Ratio("metrics on simple", "metrics off simple", Throughput), null), "≥ 0.97", true, 0.97));
        rows.Add(("TLS + API keys ÷ plain, throughput, concurrency 32, `simple`, binary", (Ratio("tls+auth on simple", "tls+auth off simple", Throughput), null), "≥ 0.9", true, 0.9));
        rows.Add(("Fabrik TLS + API keys ÷ minimal endpoint with the same certificate and TLS, throughput, concurrency 32, `simple`, binary", (Ratio("tls+auth on simple", "minimal tls simple", Throughput), null), "≥ 0.95", true, 0.95));
        rows.Add(("TLS + API keys ÷ plain, throughput, concurrency 4, `cnn` (48 KiB inputs), binary", (Ratio("tls+auth on cnn", "tls+auth off cnn", Throughput), null), "≥ 0.95", true, 0.95));
        foreach (var instances in new[] { 1, 2 })
        {
            if (_deviceSim.TryGetValue((instances, true), out var pipeline) && _deviceSim.TryGetValue((instances, false), out var serial))
            {
                rows.Add((string.Create(CultureInfo.InvariantCulture,
                    $"Simulated device utilisation{(instances > 1 ? " per instance (the lowest)" : "")}, GPU pipeline, {instances} instance(s), concurrency 64 (`Benchmarks/device-sim.sh{(instances > 1 ? " --instances 2" : "")}`; one batch at a time, `--pipeline-depth 1`: {serial.Utilisation.Min():F2})"),
                    (pipeline.Utilisation.Min(), null), "≥ 0.95", true, 0.95));
            }
        }

        var text = new StringBuilder();
        text.AppendLine("# Performance");
        text.AppendLine();
        text.AppendLine("Generated by `Benchmarks/performance-report.sh`; every number below comes from one run of it on the machine described here, with the load generator on the same machine. The servers run side by side as separate processes; the two sides of each ratio are measured alternately, three rounds each, and each ratio is the median of the three rounds' own ratios, so that the machine's drift between rounds cancels within each round. Do not edit by hand: re-run the script.");
        text.AppendLine();
        text.AppendLine("## Machine");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"- CPU: {CpuModel()}, {Environment.ProcessorCount} logical cores");
        text.AppendLine(CultureInfo.InvariantCulture, $"- Memory: {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024):F0} GiB");
        text.AppendLine(CultureInfo.InvariantCulture, $"- OS: {RuntimeInformation.OSDescription}; .NET {Environment.Version}");
        text.AppendLine(CultureInfo.InvariantCulture, $"- Date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; measurement windows of {intervalMilliseconds} ms, stable when 3 agree within 10%");
        text.AppendLine();
        text.AppendLine("## Ratios");
        text.AppendLine();
        text.AppendLine("Each ratio is measured twice: with our load generator (`-- load`, .NET) and with C clients (Debian's `wrk` for HTTP, with a Lua script that POSTs the same request; `h2load` from nghttp2-client for gRPC, with one length-prefixed ModelInferRequest). Both run on this machine, one request in flight per connection. A target is met when every measured value meets it; `-` is not measured (the C clients have no part in the rows below the latency ones). h2load reports no percentiles, so gRPC has a throughput row only.");
        text.AppendLine();
        text.AppendLine("| Ratio | Load generator | wrk / h2load | Target | Met |");
        text.AppendLine("|---|---:|---:|---|---|");
        static string Format(double? value) => value is null ? "-" : value.Value.ToString("F2", CultureInfo.InvariantCulture);
        foreach (var (ratio, (ours, c), target, higher, bound) in rows)
        {
            var measured = new[] { ours, c }.Where(v => v is not null).Select(v => v!.Value).ToArray();
            var met = measured.Length == 0 ? "not measured" : measured.All(v => higher ? v >= bound : v <= bound) ? "yes" : "**no**";
            text.AppendLine(CultureInfo.InvariantCulture, $"| {ratio} | {Format(ours)} | {Format(c)} | {target} | {met} |");
        }
        text.AppendLine();
        if (_inProcessResnet.Count > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"ONNX Runtime in process on `resnet50` (torchvision's ResNet-50, random weights), batch 1, with the sessions and threads Fabrik gives the model by default, all running at once (median of {_inProcessResnet.Count}): {inProcessResnet:F1} images/s.");
            text.AppendLine();
        }
        text.AppendLine(CultureInfo.InvariantCulture, $"ONNX Runtime in process on `cnn`, batch 4, with the sessions and threads Fabrik gives the model by default, all running at once (median of {_inProcessCnn.Count}): {inProcessCnn:F1} images/s.");
        foreach (var note in _notes)
        {
            text.AppendLine();
            text.AppendLine(note);
        }
        text.AppendLine();
        text.Append(featureCosts);
        text.AppendLine("## Runs");
        text.AppendLine();
        text.AppendLine("Latencies in µs; the server columns are Fabrik's own split per request (statistics extension; zero for servers without it and for the C clients' runs). wrk gives p50, p90 and p99; h2load gives the mean only (in the p50 column's place it shows 0).");
        text.AppendLine();
        text.AppendLine("| Run | Infer/s | p50 | p90 | p99 | Server queue | Server compute (infer) | Stable |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (var (name, r) in _runs)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {r.InferencesPerSecond:F1} | {r.P50:F0} | {r.P90:F0} | {r.P99:F0} | {r.ServerQueue:F0} | {r.ServerComputeInfer:F0} | {(r.Stable ? "yes" : "no")} |");
        }
        text.AppendLine();
        text.AppendLine("## Commands");
        text.AppendLine();
        text.AppendLine("```sh");
        foreach (var command in _commands)
        {
            text.AppendLine(Portable(command));
        }
        text.AppendLine("```");
        return text.ToString();
    }

    /// <summary>A command line as anyone can run it from the repository's root: no machine's own
    /// checkout or temporary folder in it.</summary>
    private static string Portable(string command)
    {
        var relative = command.Replace(BenchmarkModels.RepositoryRoot.TrimEnd('/') + "/", "", StringComparison.Ordinal);
        relative = TemporaryTlsFolder().Replace(relative, "<temporary TLS folder>");
        relative = TemporaryRepositoryPath().Replace(relative, "<temporary repository>");
        return BearerKey().Replace(relative, "Bearer <key>");
    }

    [GeneratedRegex(@"\S*fabrik-report-tls-\w+")]
    private static partial Regex TemporaryTlsFolder();

    [GeneratedRegex(@"\S*fabrik-report-\w+")]
    private static partial Regex TemporaryRepositoryPath();

    [GeneratedRegex(@"Bearer \w+")]
    private static partial Regex BearerKey();

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(line => line.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private sealed class ProcessHandle(Process process) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
        }
    }

    /// <summary>A temporary repository of sample models with changed configurations.</summary>
    private sealed class TemporaryModels(string samples) : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("fabrik-report-").FullName;

        public void Add(string source, string name, string extraConfig)
        {
            var target = Copy(source, name);
            var config = System.IO.Path.Combine(target, "config.pbtxt");
            File.WriteAllText(config, File.ReadAllText(config).Replace($"name: \"{source}\"", $"name: \"{name}\"", StringComparison.Ordinal) + extraConfig + "\n");
        }

        /// <summary>The same model with max_batch_size 0: the batch dimension becomes an ordinary dim.</summary>
        public void AddUnbatched(string source, string name, string inputDims, string outputDims)
        {
            var target = Copy(source, name);
            File.WriteAllText(System.IO.Path.Combine(target, "config.pbtxt"), $$"""
                name: "{{name}}"
                platform: "onnxruntime_onnx"
                max_batch_size: 0
                input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ {{inputDims}} ] } ]
                output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ {{outputDims}} ] } ]
                """);
        }

        private string Copy(string source, string name)
        {
            var target = System.IO.Path.Combine(Path, name);
            Directory.CreateDirectory(System.IO.Path.Combine(target, "1"));
            File.Copy(System.IO.Path.Combine(samples, source, "1", "model.onnx"), System.IO.Path.Combine(target, "1", "model.onnx"));
            File.Copy(System.IO.Path.Combine(samples, source, "config.pbtxt"), System.IO.Path.Combine(target, "config.pbtxt"));
            return target;
        }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
