using Fabrik.Hosting;
using Fabrik.Security.Transport;

namespace Fabrik.Tests.Security;

/// <summary>
/// What the tests that do real TLS handshakes share: a PKI made in the test, a repository holding
/// <c>simple</c>, and servers started in process on loopback ports picked by the system.
/// </summary>
public abstract class TlsServerTests : IDisposable
{
    protected TlsServerTests()
    {
        // Every handshake looks at the files, so a rotated certificate or a changed CRL shows at the next one.
        ListenerTls.ReloadCheckInterval = TimeSpan.Zero;
    }

    protected TestCertificates Pki { get; } = new();

    protected TemporaryRepository Repository { get; } = new TemporaryRepository().Add("simple");

    public void Dispose()
    {
        Repository.Dispose();
        Pki.Dispose();
        GC.SuppressFinalize(this);
    }

    private protected async Task<FabrikServer> StartAsync(params string[] flags)
    {
        string[] common = ["--model-repository", Repository.Path, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"];
        return await FabrikServer.StartAsync(ServerOptions.Parse([.. common, .. flags]));
    }
}
