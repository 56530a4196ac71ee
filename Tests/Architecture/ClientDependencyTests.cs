using Fabrik.Client;
using Xunit;

namespace Fabrik.Tests.Architecture;

/// <summary>The client library stands alone: it ships as its own package, so it may use no
/// assembly of the server, and only the packages its README names.</summary>
public sealed class ClientDependencyTests
{
    [Fact]
    public void Client_ReferencesNoServerAssembly_AndOnlyItsOwnPackages()
    {
        var references = typeof(FabrikClient).Assembly.GetReferencedAssemblies().Select(name => name.Name!).ToArray();
        Assert.DoesNotContain(references, name => name.StartsWith("fabrik", StringComparison.OrdinalIgnoreCase) || name.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
        string[] allowed = ["Grpc.Net.Client", "Grpc.Core.Api", "Google.Protobuf", "Microsoft.Extensions.DependencyInjection.Abstractions", "Microsoft.Extensions.Logging.Abstractions", "Microsoft.Extensions.Options", "Microsoft.Extensions.AI.Abstractions"];
        var outside = references.Where(name => !name.StartsWith("System", StringComparison.Ordinal) && name != "netstandard" && !allowed.Contains(name)).ToArray();
        Assert.True(outside.Length == 0, $"the client references {string.Join(", ", outside)}");
        // Its protobuf types are its own, not the server's.
        Assert.Equal("Fabrik.Client.Protos", typeof(Fabrik.Client.Protos.ModelInferRequest).Namespace);
    }
}
