using Fabrik.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary><c>AddFabrikClient</c>: one client for the application, configured through options
/// (later <c>Configure</c> calls included), logging through the application's loggers.</summary>
public sealed class FabrikClientServicesTests(ClientHost host) : IClassFixture<ClientHost>
{
    [Fact]
    public async Task AddFabrikClient_RegistersOneConfiguredClient_ThatReachesTheServer()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddFabrikClient(options =>
        {
            options.Transport = FabrikTransport.Grpc;
            options.HttpAddress = new Uri("http://localhost/");
        });
        services.Configure<FabrikClientOptions>(options =>
        {
            options.GrpcAddress = new Uri("http://localhost/");
            options.HttpHandler = host.Fabrik.CreateHandler();
        });
        await using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<FabrikClient>();
        Assert.Same(client, provider.GetRequiredService<FabrikClient>());
        Assert.Equal(FabrikTransport.Grpc, client.Transport);
        Assert.True(await client.IsModelReadyAsync("simple"));
    }

    [Fact]
    public async Task Retries_AreLoggedAsWarnings()
    {
        var log = new CapturedLog();
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.AddProvider(log));
        var handler = new ScriptedHandler((_, index) => index == 0
            ? ScriptedHandler.Json("""{"error":"the server is shutting down"}""", System.Net.HttpStatusCode.ServiceUnavailable)
            : ScriptedHandler.Json("""{"name":"fabrik","version":"1.0.0","extensions":[]}"""));
        services.AddFabrikClient(options =>
        {
            options.HttpAddress = new Uri("http://stand-in/");
            options.HttpHandler = handler;
            options.Retry = new RetryPolicy { InitialBackoff = TimeSpan.Zero, MaxBackoff = TimeSpan.Zero };
        });
        await using var provider = services.BuildServiceProvider();

        var metadata = await provider.GetRequiredService<FabrikClient>().GetServerMetadataAsync();
        Assert.Equal("fabrik", metadata.Name);
        var entry = Assert.Single(log.Entries);
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Equal(typeof(FabrikClient).FullName, entry.Category);
        Assert.Contains("Retrying server metadata (attempt 1 of 4 failed)", entry.Message, StringComparison.Ordinal);
        Assert.Contains("the server is shutting down", entry.Message, StringComparison.Ordinal);
    }
}
