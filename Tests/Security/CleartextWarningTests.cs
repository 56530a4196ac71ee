using Xunit;

namespace Fabrik.Tests.Security;

/// <summary>The executable warns once, at start-up, when it serves a non-loopback address in cleartext.</summary>
public sealed class CleartextWarningTests
{
    [Fact]
    public async Task NonLoopbackWithoutTls_LogsOneWarning_LoopbackNone()
    {
        using var repository = new TemporaryRepository().Add("simple");
        await using (var exposed = await FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-address=0.0.0.0", "--http-port", "0", "--grpc-address=0.0.0.0", "--grpc-port", "0", "--metrics-port", "0"))
        {
            var warnings = exposed.Log.Where(line => line.Contains("without TLS", StringComparison.Ordinal)).ToList();
            var warning = Assert.Single(warnings);
            Assert.Contains("HTTP on 0.0.0.0 and gRPC on 0.0.0.0", warning, StringComparison.Ordinal);
        }
        await using var loopback = await FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0");
        Assert.DoesNotContain(loopback.Log, line => line.Contains("without TLS", StringComparison.Ordinal));
    }
}
