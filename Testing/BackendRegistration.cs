using Fabrik.Execution;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Fabrik.Testing;

/// <summary>
/// Adds backends that only tests and benchmarks use (the simulated device) to a server being
/// built, beside every backend of <see cref="BackendRegistry.Default"/>: pass it as the
/// <c>configureHost</c> of <c>FabrikServer.StartAsync</c>, or use
/// <see cref="InMemoryFabrik.StartWithBackendsAsync"/>.
/// </summary>
internal static class BackendRegistration
{
    public static Action<IWebHostBuilder> With(params IModelBackend[] backends) =>
        host => host.ConfigureServices(services => services.AddSingleton(new BackendRegistry([.. BackendRegistry.Default.Backends, .. backends])));
}
