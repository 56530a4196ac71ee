using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Protocol.Triton;
using Fabrik.Tests.Support;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit;
using Xunit.Abstractions;

namespace Fabrik.Tests.Soak;

/// <summary>Runs only when FABRIK_SOAK_SECONDS is set (Tests/Soak/soak.sh sets it).</summary>
public sealed class SoakFactAttribute : FactAttribute
{
    public SoakFactAttribute()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("FABRIK_SOAK_SECONDS"), out var seconds) || seconds <= 0)
        {
            Skip = "soak skipped: run Tests/Soak/soak.sh SECONDS";
        }
    }
}

/// <summary>
/// The soak: the real fabrik process in poll mode under mixed valid and hostile load over HTTP and
/// gRPC, with a model reloaded every few seconds, for FABRIK_SOAK_SECONDS. It records resident
/// memory once a second and fails if a valid request failed, a hostile one got a 5xx (or gRPC
/// INTERNAL/UNKNOWN), or the process died. Figures go to FABRIK_SOAK_OUT: rss.csv (resident memory
/// and its parts, threads, the tensor pool's bytes), summary.txt,
/// and server.pid (for a tool that watches the server, such as soak.sh's dotnet-counters).
/// </summary>
public sealed class SoakTests(ITestOutputHelper output)
{
    private static readonly string[] Models = ["simple", "mlp", "strings"];

    [SoakFact]
    public async Task MixedValidAndHostileLoadWithReloads_NoFailuresNo5xxNoRestarts()
    {
        var seconds = int.Parse(Environment.GetEnvironmentVariable("FABRIK_SOAK_SECONDS")!, CultureInfo.InvariantCulture);
        // To split memory growth between its causes: FABRIK_SOAK_TRAFFIC sends only some kinds of
        // request (valid, hostile, or a comma list of valid-http, valid-grpc, hostile-http and
        // hostile-grpc; default all four), FABRIK_SOAK_RELOADS=0 leaves the models alone.
        var kinds = TrafficKinds(Environment.GetEnvironmentVariable("FABRIK_SOAK_TRAFFIC"));
        var reloading = Environment.GetEnvironmentVariable("FABRIK_SOAK_RELOADS") != "0";
        var outDirectory = Environment.GetEnvironmentVariable("FABRIK_SOAK_OUT") is { Length: > 0 } dir ? dir : Path.Combine(Path.GetTempPath(), "fabrik-soak");
        Directory.CreateDirectory(outDirectory);
        using var repository = new TemporaryRepository();
        foreach (var model in Models)
        {
            repository.Add(model);
        }
        var grpcPort = FreePort();
        await using var fabrik = await FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0",
            "--grpc-port", grpcPort.ToString(CultureInfo.InvariantCulture), "--model-control-mode=poll", "--repository-poll-secs=1");
        using var http = new HttpClient { BaseAddress = fabrik.Address, Timeout = TimeSpan.FromSeconds(30) };
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);

        var stop = DateTime.UtcNow.AddSeconds(seconds);
        var counters = new Counters();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await File.WriteAllTextAsync(Path.Combine(outDirectory, "server.pid"), fabrik.Process.Id.ToString(CultureInfo.InvariantCulture));
        var rss = new List<(double Seconds, ProcessMemory Memory, PoolBytes Pool)>();
        var pool = default(PoolBytes);
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, 4).Select(worker => Task.Run(async () =>
        {
            var random = new Random(worker);
            while (DateTime.UtcNow < stop)
            {
                var model = Models[random.Next(Models.Length)];
                switch (kinds[random.Next(kinds.Length)])
                {
                    case 0: await ValidHttpAsync(http, model, counters, failures); break;
                    case 1: await ValidGrpcAsync(grpc, model, counters, failures); break;
                    case 2: await HostileHttpAsync(http, model, random, counters, failures); break;
                    default: await HostileGrpcAsync(grpc, model, random, counters, failures); break;
                }
            }
        })).ToList();
        var reloads = 0;
        while (DateTime.UtcNow < stop)
        {
            if (rss.Count % 10 == 0)
            {
                pool = await PoolBytes.ScrapeAsync(http, fabrik.MetricsAddress);
            }
            rss.Add((clock.Elapsed.TotalSeconds, ProcessMemory.Read(fabrik.Process), pool));
            if (reloading && rss.Count % 5 == 0)
            {
                // A reload cycle: poll mode notices the changed config and swaps in a new version.
                File.AppendAllText(Path.Combine(repository.Path, Models[reloads++ % Models.Length], "config.pbtxt"), $"\n# reload {reloads}\n");
            }
            await Task.Delay(1000);
        }
        await Task.WhenAll(workers);
        rss.Add((clock.Elapsed.TotalSeconds, ProcessMemory.Read(fabrik.Process), await PoolBytes.ScrapeAsync(http, fabrik.MetricsAddress)));
        var restarts = fabrik.Process.HasExited ? 1 : 0;

        await File.WriteAllLinesAsync(Path.Combine(outDirectory, "rss.csv"),
            ["seconds,rss_kib,anon_kib,file_kib,shmem_kib,threads,pool_total_bytes,pool_used_bytes",
             .. rss.Select(r => $"{r.Seconds:F1},{r.Memory.ResidentKib},{r.Memory.AnonymousKib},{r.Memory.FileKib},{r.Memory.SharedKib},{r.Memory.Threads},{r.Pool.Total},{r.Pool.Used}")]);
        var summary = $"""
            duration_s: {seconds}
            rss_start_kib: {rss[0].Memory.ResidentKib}
            rss_end_kib: {rss[^1].Memory.ResidentKib}
            rss_max_kib: {rss.Max(r => r.Memory.ResidentKib)}
            pool_total_bytes_end: {rss[^1].Pool.Total}
            pool_used_bytes_end: {rss[^1].Pool.Used}
            valid_requests: {counters.Valid}
            valid_failed: {counters.ValidFailed}
            hostile_requests: {counters.Hostile}
            hostile_5xx: {counters.Hostile5xx}
            reload_cycles: {reloads}
            restarts: {restarts}
            """;
        await File.WriteAllTextAsync(Path.Combine(outDirectory, "summary.txt"), summary + "\n");
        output.WriteLine(summary);
        foreach (var failure in failures.Take(20))
        {
            output.WriteLine(failure);
        }

        // Each half that FABRIK_SOAK_TRAFFIC selects (both by default) must have been sent.
        Assert.True(counters.Valid > 0 || !kinds.Any(kind => kind < FirstHostileKind), "no valid load was sent");
        Assert.True(counters.Hostile > 0 || !kinds.Any(kind => kind >= FirstHostileKind), "no hostile load was sent");
        Assert.Equal(0, counters.ValidFailed);
        Assert.Equal(0, counters.Hostile5xx);
        Assert.Equal(0, restarts);
    }

    private static readonly string[] KindNames = ["valid-http", "valid-grpc", "hostile-http", "hostile-grpc"];
    private const int FirstHostileKind = 2;

    /// <summary>The request kinds to send, as indexes into <see cref="KindNames"/>.</summary>
    private static int[] TrafficKinds(string? setting) => setting switch
    {
        null or "" or "mixed" => [0, 1, 2, 3],
        "valid" => [0, 1],
        "hostile" => [2, 3],
        _ => setting.Split(',').Select(name => Array.IndexOf(KindNames, name.Trim()) is var kind and >= 0
            ? kind
            : throw new InvalidOperationException($"FABRIK_SOAK_TRAFFIC: '{name}' is none of mixed, valid, hostile, {string.Join(", ", KindNames)}")).ToArray(),
    };

    private sealed class Counters
    {
        public long Valid;
        public long ValidFailed;
        public long Hostile;
        public long Hostile5xx;
    }

    private static JsonObject Sample(string model, Random? random = null)
    {
        var samples = Samples.Load(model)["samples"]!.AsArray();
        return samples[random?.Next(samples.Count) ?? 0]!.AsObject();
    }

    private static async Task ValidHttpAsync(HttpClient http, string model, Counters counters, System.Collections.Concurrent.ConcurrentQueue<string> failures)
    {
        Interlocked.Increment(ref counters.Valid);
        var sample = Sample(model);
        var body = new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString();
        try
        {
            using var response = await http.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"{(int)response.StatusCode} {text}");
            }
            TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(text)!["outputs"]!.AsArray(), (double)sample["tolerance"]!);
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref counters.ValidFailed);
            failures.Enqueue($"valid HTTP {model}: {e.Message}");
        }
    }

    private static async Task ValidGrpcAsync(GRPCInferenceService.GRPCInferenceServiceClient grpc, string model, Counters counters, System.Collections.Concurrent.ConcurrentQueue<string> failures)
    {
        Interlocked.Increment(ref counters.Valid);
        try
        {
            var response = await grpc.ModelInferAsync(GrpcRequest(model));
            if (response.RawOutputContents.Count != Sample(model)["outputs"]!.AsArray().Count)
            {
                throw new InvalidOperationException($"{response.RawOutputContents.Count} outputs");
            }
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref counters.ValidFailed);
            failures.Enqueue($"valid gRPC {model}: {e.Message}");
        }
    }

    private static async Task HostileHttpAsync(HttpClient http, string model, Random random, Counters counters, System.Collections.Concurrent.ConcurrentQueue<string> failures)
    {
        Interlocked.Increment(ref counters.Hostile);
        var bytes = Encoding.UTF8.GetBytes(new JsonObject { ["inputs"] = Sample(model, random)["inputs"]!.DeepClone() }.ToJsonString());
        for (var flips = random.Next(1, 6); flips > 0; flips--)
        {
            bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{model}/infer") { Content = new ByteArrayContent(bytes[..random.Next(1, bytes.Length + 1)]) };
        if (random.Next(3) == 0)
        {
            request.Headers.TryAddWithoutValidation("Inference-Header-Content-Length", random.Next(-5, bytes.Length + 10).ToString(CultureInfo.InvariantCulture));
        }
        using var response = await http.SendAsync(request);
        if ((int)response.StatusCode >= 500 && response.StatusCode != HttpStatusCode.ServiceUnavailable)
        {
            Interlocked.Increment(ref counters.Hostile5xx);
            failures.Enqueue($"hostile HTTP {model}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static async Task HostileGrpcAsync(GRPCInferenceService.GRPCInferenceServiceClient grpc, string model, Random random, Counters counters, System.Collections.Concurrent.ConcurrentQueue<string> failures)
    {
        Interlocked.Increment(ref counters.Hostile);
        var message = GrpcRequest(model);
        var target = message.Inputs[random.Next(message.Inputs.Count)];
        target.Shape.Clear();
        target.Shape.AddRange(Enumerable.Range(0, random.Next(0, 4)).Select(_ => random.Next(4) == 0 ? (1L << 62) + 1 : random.NextInt64(-2, 1L << 33)));
        try
        {
            await grpc.ModelInferAsync(message);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Internal or StatusCode.Unknown)
        {
            Interlocked.Increment(ref counters.Hostile5xx);
            failures.Enqueue($"hostile gRPC {model}: {e.StatusCode} {e.Status.Detail}");
        }
        catch (RpcException)
        {
            // A clean refusal.
        }
    }

    private static ModelInferRequest GrpcRequest(string model) => GrpcSamples.RawRequest(model, Sample(model));

    /// <summary>One sample of /proc/PID/status: resident memory (VmRSS) and its three parts, anonymous
    /// (the managed and native heaps, stacks), file-backed (libraries, assemblies) and shared (the
    /// runtime maps its JIT code through shared memory, for W^X), and the thread count.</summary>
    private readonly record struct ProcessMemory(long ResidentKib, long AnonymousKib, long FileKib, long SharedKib, long Threads)
    {
        public static ProcessMemory Read(Process process)
        {
            try
            {
                long resident = 0, anonymous = 0, file = 0, shared = 0, threads = 0;
                foreach (var line in File.ReadLines($"/proc/{process.Id}/status"))
                {
                    var fields = line.Split((char[])[' ', '\t', ':'], StringSplitOptions.RemoveEmptyEntries);
                    if (fields.Length < 2)
                    {
                        continue;
                    }
                    switch (fields[0])
                    {
                        case "VmRSS": resident = long.Parse(fields[1], CultureInfo.InvariantCulture); break;
                        case "RssAnon": anonymous = long.Parse(fields[1], CultureInfo.InvariantCulture); break;
                        case "RssFile": file = long.Parse(fields[1], CultureInfo.InvariantCulture); break;
                        case "RssShmem": shared = long.Parse(fields[1], CultureInfo.InvariantCulture); break;
                        case "Threads": threads = long.Parse(fields[1], CultureInfo.InvariantCulture); break;
                    }
                }
                return new ProcessMemory(resident, anonymous, file, shared, threads);
            }
            catch (IOException)
            {
                return default;
            }
        }
    }

    /// <summary>The tensor pool's bytes from the metrics endpoint (Triton's pinned-pool gauges):
    /// all it holds, and what is rented out now. Rented bytes that climb while traffic is steady
    /// would be arrays never returned.</summary>
    private readonly record struct PoolBytes(long Total, long Used)
    {
        public static async Task<PoolBytes> ScrapeAsync(HttpClient http, Uri? metrics)
        {
            if (metrics is null)
            {
                return default;
            }
            var families = ExpositionParser.Parse(await http.GetStringAsync(new Uri(metrics, "/metrics")), ExpositionFormat.PrometheusText);
            var total = (long)(families.GetValueOrDefault("nv_pinned_memory_pool_total_bytes")?.Samples.Single().Value ?? 0);
            var used = (long)(families.GetValueOrDefault("nv_pinned_memory_pool_used_bytes")?.Samples.Single().Value ?? 0);
            return new PoolBytes(total, used);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
