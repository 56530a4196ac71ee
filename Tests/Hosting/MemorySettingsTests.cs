using Xunit;

namespace Fabrik.Tests.Hosting;

/// <summary>The executable's memory bounds, as an operator sets and reads them: the defaults the
/// build ships, the runtime's own ceiling setting, and MALLOC_ARENA_MAX, each in the start-up log.</summary>
public sealed class MemorySettingsTests
{
    [Fact]
    public async Task Defaults_CapGen0AndArenas_AndSayTheresNoHeapLimit()
    {
        using var repository = new TemporaryRepository().Add("simple");
        await using var fabrik = await FabrikProcess.StartAsync(Quiet(), "--model-repository", repository.Path, "--http-port", "0", "--allow-grpc=false", "--allow-metrics=false");

        var line = Assert.Single(fabrik.Log, line => line.Contains("memory: managed heap:", StringComparison.Ordinal));
        Assert.Contains("server GC, gen0 at most 8 MiB per heap, no heap limit", line, StringComparison.Ordinal);
        Assert.EndsWith("malloc arenas: at most 2", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OperatorSettings_TheHeapCeilingAndArenas_AreHonouredAndReported()
    {
        using var repository = new TemporaryRepository().Add("simple");
        var environment = Quiet();
        environment["DOTNET_GCHeapHardLimit"] = "0x20000000"; // 512 MiB, as a container limit would give
        environment["MALLOC_ARENA_MAX"] = "4";
        await using var fabrik = await FabrikProcess.StartAsync(environment, "--model-repository", repository.Path, "--http-port", "0", "--allow-grpc=false", "--allow-metrics=false");

        var line = Assert.Single(fabrik.Log, line => line.Contains("memory: managed heap:", StringComparison.Ordinal));
        Assert.Contains("heap limit 512 MiB", line, StringComparison.Ordinal);
        Assert.EndsWith("malloc arenas: at most 4 (MALLOC_ARENA_MAX)", line, StringComparison.Ordinal);
        using var http = new HttpClient { BaseAddress = fabrik.Address };
        Assert.True((await http.GetAsync("/v2/health/ready")).IsSuccessStatusCode);
    }

    // The test host's own settings must not leak into the child's.
    private static Dictionary<string, string> Quiet() => new() { ["MALLOC_ARENA_MAX"] = "" };
}
