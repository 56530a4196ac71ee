using Fabrik.Testing.Load;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Load;

/// <summary>The perf_analyzer-style load generator against the real server, over each protocol:
/// it measures, reads the server's split, and writes CSV, JSON and an SVG plot.</summary>
[Collection(KestrelServerCollection.Name)]
public sealed class LoadGeneratorTests(KestrelServerFixture fixture)
{
    [Theory]
    [InlineData("http", "json", "mlp", "fabrik")]
    [InlineData("http", "binary", "simple", "fabrik")]
    [InlineData("grpc", "binary", "strings", "fabrik")]
    [InlineData("http", "binary", "simple", "own")]
    [InlineData("grpc", "binary", "strings", "own")]
    public async Task Load_ConcurrencySweep_MeasuresAndWritesCsvJsonAndPlot(string protocol, string format, string model, string client)
    {
        var server = protocol == "grpc" ? fixture.Server.GrpcAddress! : fixture.Server.HttpAddress!;
        var directory = Directory.CreateTempSubdirectory("fabrik-load-").FullName;
        try
        {
            var csv = Path.Combine(directory, "results.csv");
            var options = LoadOptions.Parse(["-m", model, "-u", $"{server.Host}:{server.Port}", "-i", protocol, "--http-format", format, "--client", client,
                "--concurrency-range", "1:3:2", "-p", "150", "-r", "3", "-f", csv]);

            var results = await new LoadGenerator(options, TextWriter.Null).RunAsync(default);
            LoadReport.Write(csv, options, results);

            Assert.Equal([1, 3], results.Select(r => r.Load));
            Assert.All(results, r =>
            {
                Assert.Equal(0, r.Errors);
                Assert.True(r.InferencesPerSecond > 0);
                Assert.True(r.P50 > 0 && r.P50 <= r.P90 && r.P90 <= r.P99);
                Assert.True(r.ServerComputeInfer > 0, "the server-side split is missing");
            });
            var lines = File.ReadAllLines(csv);
            Assert.StartsWith("Concurrency,Inferences/Second,", lines[0], StringComparison.Ordinal);
            Assert.Equal(3, lines.Length);
            Assert.Contains("\"results\"", File.ReadAllText(Path.ChangeExtension(csv, ".json")), StringComparison.Ordinal);
            var svg = File.ReadAllText(Path.ChangeExtension(csv, ".svg"));
            Assert.StartsWith("<svg", svg, StringComparison.Ordinal);
            Assert.Equal(2, svg.Split("<polyline").Length - 1);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("http")]
    [InlineData("grpc")]
    public async Task Load_SystemSharedMemory_NamesARegionAndRemovesItAfterwards(string protocol)
    {
        using var repository = new TemporaryRepository().Add("image_pool");
        await using var server = await Fabrik.Hosting.FabrikServer.StartAsync(Fabrik.Hosting.ServerOptions.Parse(
            ["--model-repository", repository.Path, "--http-port", "0", "--grpc-port", "0", "--allow-metrics=false", "--allow-shared-memory=true"]));
        var address = protocol == "grpc" ? server.GrpcAddress! : server.HttpAddress!;
        var options = LoadOptions.Parse(["-m", "image_pool", "-u", $"{address.Host}:{address.Port}", "-i", protocol, "--shared-memory", "system",
            "--concurrency-range", "2", "-p", "150", "-r", "3"]);
        var objects = SharedMemoryObjects();

        var results = await new LoadGenerator(options, TextWriter.Null).RunAsync(default);

        var result = Assert.Single(results);
        Assert.Equal(0, result.Errors);
        Assert.True(result.Requests > 0);
        using var http = new HttpClient { BaseAddress = server.HttpAddress };
        Assert.Equal("[]", await http.GetStringAsync("/v2/systemsharedmemory/status"));
        Assert.Equal(objects, SharedMemoryObjects());
    }

    [GpuFact]
    [Trait("Category", "Gpu")]
    public async Task Load_CudaSharedMemory_NamesADeviceRegionAndRemovesItAfterwards()
    {
        // CUDA IPC handles open only in another process: the server runs as one.
        using var repository = new TemporaryRepository().Add("image_pool");
        await using var server = await FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-port", "0", "--grpc-port", "0",
            "--metrics-port", "0", "--allow-grpc=false", "--allow-shared-memory=true");
        var options = LoadOptions.Parse(["-m", "image_pool", "-u", $"{server.Address.Host}:{server.Address.Port}", "--shared-memory", "cuda",
            "--concurrency-range", "2", "-p", "150", "-r", "3"]);

        var result = Assert.Single(await new LoadGenerator(options, TextWriter.Null).RunAsync(default));

        Assert.Equal(0, result.Errors);
        Assert.True(result.Requests > 0);
        using var http = new HttpClient { BaseAddress = server.Address };
        Assert.Equal("[]", await http.GetStringAsync("/v2/cudasharedmemory/status"));
    }

    [NoGpuFact]
    public async Task Load_CudaSharedMemory_WithoutAGpu_FailsSayingSo()
    {
        using var repository = new TemporaryRepository().Add("image_pool");
        await using var server = await Fabrik.Hosting.FabrikServer.StartAsync(Fabrik.Hosting.ServerOptions.Parse(
            ["--model-repository", repository.Path, "--http-port", "0", "--grpc-port", "0", "--allow-metrics=false", "--allow-shared-memory=true"]));
        var options = LoadOptions.Parse(["-m", "image_pool", "-u", $"{server.HttpAddress!.Host}:{server.HttpAddress.Port}", "--shared-memory", "cuda",
            "--concurrency-range", "1", "-p", "150", "-r", "3"]);

        // The generator cannot allocate device memory: the driver's own reason, before anything is registered.
        var error = await Assert.ThrowsAsync<Fabrik.Native.NativeException>(() => new LoadGenerator(options, TextWriter.Null).RunAsync(default));

        Assert.Contains("CUDA", error.Message, StringComparison.Ordinal);
    }

    private static string[] SharedMemoryObjects() => [.. Directory.GetFiles("/dev/shm", $"fabrik-load-{Environment.ProcessId}-*").Order(StringComparer.Ordinal)];

    [Theory]
    [InlineData("--concurrency-range", "0:2")]
    [InlineData("-i", "udp")]
    [InlineData("--bogus", "1")]
    [InlineData("--client", "python")]
    [InlineData("--shared-memory", "rdma")]
    public void Parse_BadFlag_NamesIt(string flag, string value)
    {
        var error = Assert.Throws<ArgumentException>(() => LoadOptions.Parse(["-m", "simple", flag, value]));
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }
}
