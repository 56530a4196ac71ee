using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Xunit;

namespace Fabrik.Tests.Hosting;

/// <summary>
/// tritonserver command lines as Triton's documentation and KServe's Triton runtime print them
/// start Fabrik. Only the repository path and the ports are the test's own (port 0: a free one).
/// </summary>
public sealed class TritonCommandLineTests
{
    private static readonly string[] FreePorts = ["--http-port=0", "--grpc-port=0", "--metrics-port=0"];

    [Fact]
    public async Task QuickStart_ServesEveryModelReady()
    {
        // Triton quick start: tritonserver --model-repository=/models
        await using var fabrik = await FabrikProcess.StartAsync(["--model-repository=" + RepositoryLayout.Models, .. FreePorts]);
        using var client = new HttpClient { BaseAddress = fabrik.Address };

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/health/ready")).StatusCode);
        foreach (var model in Samples.AllModelNames)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v2/models/{model}/ready")).StatusCode);
        }
    }

    [Fact]
    public async Task ExplicitMode_LoadsOnlyTheModelNamed()
    {
        // Model management guide: --model-control-mode=explicit --load-model=<name>
        using var repository = new TemporaryRepository().Add("simple").Add("mlp");
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository=" + repository.Path, "--model-control-mode=explicit", "--load-model=simple", .. FreePorts]));
        using var client = new HttpClient { BaseAddress = server.HttpAddress };

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/models/simple/ready")).StatusCode);
        Assert.NotEqual(HttpStatusCode.OK, (await client.GetAsync("/v2/models/mlp/ready")).StatusCode);
    }

    [Fact]
    public async Task MetricsGuideFlags_Start()
    {
        // Metrics guide: --allow-metrics=false, or --allow-gpu-metrics=false and
        // --allow-cpu-metrics=false with --metrics-port and --metrics-interval-ms.
        using var repository = new TemporaryRepository().Add("simple");
        foreach (var flags in new[]
        {
            new[] { "--allow-metrics=false" },
            ["--allow-gpu-metrics=false", "--allow-cpu-metrics=false", "--metrics-interval-ms=2000"],
        })
        {
            await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(["--model-repository=" + repository.Path, .. FreePorts, .. flags]));
            using var client = new HttpClient { BaseAddress = server.HttpAddress };
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/health/ready")).StatusCode);
        }
    }

    [Fact]
    public async Task KServeTritonRuntimeArguments_ServeBothProtocols()
    {
        // KServe's kserve-tritonserver runtime: tritonserver --model-store=/mnt/models
        // --grpc-port=9000 --http-port=8080 --allow-grpc=true --allow-http=true
        using var repository = new TemporaryRepository().Add("simple");
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-store=" + repository.Path, "--grpc-port=0", "--http-port=0", "--allow-grpc=true", "--allow-http=true", "--metrics-port=0"]));

        Assert.NotNull(server.HttpAddress);
        Assert.NotNull(server.GrpcAddress);
        using var client = new HttpClient { BaseAddress = server.HttpAddress };
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/models/simple/ready")).StatusCode);
    }

    [Fact]
    public async Task TuningFlagsWithSeparateValues_EachWarnOnceAndTheServerServes()
    {
        // The flags of a typical tuned deployment script, in the "--flag value" spelling; the --log-*
        // flags and --cache-config among them are implemented, the others are accepted with one
        // warning each.
        string[] withoutEffect =
        [
            "backend-directory", "backend-config",
            "http-thread-count", "reuse-http-port", "reuse-grpc-port", "rate-limit", "cuda-memory-pool-byte-size",
            "min-supported-compute-capability", "buffer-manager-thread-count", "grpc-infer-allocation-pool-size",
        ];
        using var repository = new TemporaryRepository().Add("simple");
        await using var fabrik = await FabrikProcess.StartAsync(
            "--model-repository", repository.Path, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0",
            "--id", "tuned-server", "--exit-timeout-secs", "60", "--model-load-thread-count", "8",
            "--log-verbose", "0", "--log-info", "True", "--log-warning", "True", "--log-error", "True", "--log-format", "ISO8601",
            "--backend-directory", "/opt/tritonserver/backends",
            "--backend-config", "onnxruntime,default-max-batch-size=8", "--backend-config", "pytorch,shm-default-byte-size=1048576",
            "--cache-config", "local,size=1048576", "--http-thread-count", "50",
            "--reuse-http-port", "true", "--reuse-grpc-port", "true", "--rate-limit", "execution_count",
            "--cuda-memory-pool-byte-size", "0:536870912", "--min-supported-compute-capability", "7.0",
            "--buffer-manager-thread-count", "8", "--grpc-infer-allocation-pool-size", "20", "--allow-http", "True");
        using var client = new HttpClient { BaseAddress = fabrik.Address };

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/health/ready")).StatusCode);
        var metadata = JsonNode.Parse(await client.GetStringAsync("/v2"))!;
        Assert.Equal("tuned-server", (string)metadata["name"]!);
        foreach (var flag in withoutEffect)
        {
            Assert.Single(fabrik.Log, line => line.Contains($"--{flag} has no effect here", StringComparison.Ordinal));
        }
        Assert.Single(fabrik.Log, line => line.Contains("Response cache: local, 1048576 bytes", StringComparison.Ordinal));
        Assert.DoesNotContain(fabrik.Log, line => line.Contains("--cache-config", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ExitOnError_ByDefault_AModelThatFailsToLoadStopsStartWithItsName()
    {
        using var repository = BrokenRepository();
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "fabrik.dll"), "--model-repository=" + repository.Path, "--http-port=0", "--grpc-port=0", "--metrics-port=0" },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        await output;

        Assert.Equal(1, process.ExitCode);
        Assert.Contains("failed to load all models ('broken':", error, StringComparison.Ordinal);
        Assert.Contains("--exit-on-error=false", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExitOnErrorFalse_ServesTheModelsThatLoaded()
    {
        using var repository = BrokenRepository();
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository=" + repository.Path, "--exit-on-error=false", "--strict-readiness=false", .. FreePorts]));
        using var client = new HttpClient { BaseAddress = server.HttpAddress };

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/models/simple/ready")).StatusCode);
        Assert.Equal(Fabrik.Models.ModelState.Unavailable, server.Models.Models["broken"].State);
    }

    [Fact]
    public async Task ModelLoadThreadCount_OneOrMany_LoadsEveryModel()
    {
        using var repository = new TemporaryRepository().Add("simple").Add("mlp").Add("mlp_torch").Add("identity");
        foreach (var threads in new[] { "1", "4" })
        {
            await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
                ["--model-repository=" + repository.Path, "--model-load-thread-count=" + threads, .. FreePorts]));
            Assert.All(["simple", "mlp", "mlp_torch", "identity"], name => Assert.Equal(Fabrik.Models.ModelState.Ready, server.Models.Models[name].State));
        }
    }

    /// <summary>simple, and a copy of it whose model file is not a model.</summary>
    private static TemporaryRepository BrokenRepository()
    {
        var repository = new TemporaryRepository().Add("simple").Add("simple", "broken");
        File.WriteAllBytes(Path.Combine(repository.Path, "broken", "1", "model.onnx"), Encoding.ASCII.GetBytes("this is not a model"));
        return repository;
    }
}
