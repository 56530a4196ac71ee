using System.Globalization;
using System.Security.Cryptography.X509Certificates;

namespace Fabrik.Benchmarks.Peers;

/// <summary>
/// <c>-- minimal --port P [--h2c-port Q] [--tls-cert PEM --tls-key PEM]</c>: runs
/// <see cref="MinimalEndpoint"/> on the sample models simple, mlp and cnn until stopped.
/// </summary>
internal static class MinimalCommand
{
    public static int Run(string[] args)
    {
        int? port = null, h2cPort = null;
        string? certificatePath = null, keyPath = null;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--port": port = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--h2c-port": h2cPort = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--tls-cert": certificatePath = args[i + 1]; break;
                case "--tls-key": keyPath = args[i + 1]; break;
                default: throw new ArgumentException($"minimal: unknown option '{args[i]}'");
            }
        }
        if (port is null || args.Length % 2 != 0 || (certificatePath is null) != (keyPath is null))
        {
            Console.Error.WriteLine("usage: minimal --port P [--h2c-port Q] [--tls-cert PEM --tls-key PEM]");
            return 2;
        }
        using var certificate = certificatePath is null ? null : X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        MinimalEndpoint.RunAsync(port.Value, Path.Combine(BenchmarkModels.RepositoryRoot, "models"), ["simple", "mlp", "cnn"], CancellationToken.None, certificate, h2cPort)
            .GetAwaiter().GetResult();
        return 0;
    }
}
