using ArchUnitNET.Loader;
using ArchUnitNET.xUnit;
using Xunit;
using static ArchUnitNET.Fluent.ArchRuleDefinition;

namespace Fabrik.Tests.Architecture;

/// <summary>
/// The import rules of the README's architecture section, checked on the compiled assemblies
/// (method bodies included): the layers point one way (so no cycle can form between Models,
/// Scheduling and Execution), the shared vocabulary below them reaches nothing above, and the
/// native interop knows nothing of the server.
/// </summary>
public sealed class LayeringTests
{
    private static readonly System.Reflection.Assembly RuntimeAssembly = typeof(Fabrik.Hosting.FabrikServer).Assembly;
    private static readonly System.Reflection.Assembly NativeAssembly = typeof(Fabrik.Native.GpuInventory).Assembly;

    private static readonly ArchUnitNET.Domain.Architecture Compiled = new ArchLoader().LoadAssemblies(RuntimeAssembly, NativeAssembly).Build();

    // The protocol frameworks' own assemblies are loaded too, or a rule about their types would
    // compare against an empty set and pass whatever the code does.
    private static readonly Lazy<ArchUnitNET.Domain.Architecture> WithProtocolFrameworks = new(() => new ArchLoader().LoadAssemblies(
        RuntimeAssembly,
        NativeAssembly,
        typeof(Microsoft.AspNetCore.Http.HttpContext).Assembly,
        typeof(Microsoft.AspNetCore.Http.DefaultHttpContext).Assembly,
        typeof(Microsoft.AspNetCore.Routing.IEndpointRouteBuilder).Assembly,
        typeof(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions).Assembly,
        typeof(Grpc.Core.ServerCallContext).Assembly,
        typeof(Google.Protobuf.IMessage).Assembly).Build());

    /// <summary>The layers from the top down: each may use those below it, never those above.
    /// Ensembles sit under Models, which builds them and implements the interface through which
    /// their steps reach the composing models.</summary>
    private static readonly string[] Layers = ["Fabrik.Hosting", "Fabrik.Protocol", "Fabrik.Models", "Fabrik.Ensembles", "Fabrik.Scheduling", "Fabrik.Execution", "Fabrik.Devices"];

    /// <summary>Shared by the layers; they use nothing of the layers themselves. Security (TLS,
    /// keys, audit, model signatures) is used by Hosting and Protocol, and the loader calls its
    /// signature check; it calls nothing back up. The response cache (Caching) is held by each
    /// loaded version and consulted by the inference pipeline; it knows no model or scheduler.
    /// The tenants (Tenancy) are resolved by the key check and charged by the pipeline and the
    /// scheduler through Inference's RequestTenant.</summary>
    private static readonly string[] Vocabulary =
        ["Fabrik.Configuration", "Fabrik.Observability", "Fabrik.Errors", "Fabrik.Tensors", "Fabrik.Security", "Fabrik.Inference", "Fabrik.Caching", "Fabrik.Tenancy"];

    public static TheoryData<string, string> UpwardReferences()
    {
        var data = new TheoryData<string, string>();
        for (var lower = 1; lower < Layers.Length; lower++)
        {
            for (var upper = 0; upper < lower; upper++)
            {
                data.Add(Layers[lower], Layers[upper]);
            }
        }
        foreach (var shared in Vocabulary)
        {
            foreach (var layer in Layers)
            {
                data.Add(shared, layer);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(UpwardReferences))]
    public void Layer_NeverUsesALayerAboveIt(string user, string forbidden) =>
        Types().That().ResideInNamespaceOrBelow(user).Should()
            .NotDependOnAny(Types().That().ResideInNamespaceOrBelow(forbidden))
            .Because($"{user} sits below {forbidden}")
            .Check(Compiled);

    /// <summary>Security's own layers: the listeners' transport (TLS, client certificates, CRLs),
    /// request access (keys, scopes, restricted APIs) and model signing. Each stands alone; what
    /// they share (the audit log, reloading files, redaction, the flags) sits in Fabrik.Security.</summary>
    private static readonly string[] SecurityLayers = ["Fabrik.Security.Transport", "Fabrik.Security.Access", "Fabrik.Security.ModelSigning"];

    public static TheoryData<string, string> SidewaysSecurityReferences()
    {
        var data = new TheoryData<string, string>();
        foreach (var user in SecurityLayers)
        {
            foreach (var other in SecurityLayers.Where(other => other != user))
            {
                data.Add(user, other);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(SidewaysSecurityReferences))]
    public void SecurityLayer_NeverUsesAnotherSecurityLayer(string user, string forbidden) =>
        Types().That().ResideInNamespaceOrBelow(user).Should()
            .NotDependOnAny(Types().That().ResideInNamespaceOrBelow(forbidden))
            .Because($"{user} and {forbidden} are separate layers of security")
            .Check(Compiled);

    /// <summary>The model layers verify signed models (ModelSigning) and write the audit log,
    /// but requests are authorised and connections secured above them, in Protocol and Hosting.</summary>
    [Theory]
    [InlineData("Fabrik.Models", "Fabrik.Security.Transport")]
    [InlineData("Fabrik.Models", "Fabrik.Security.Access")]
    [InlineData("Fabrik.Scheduling", "Fabrik.Security.Transport")]
    [InlineData("Fabrik.Scheduling", "Fabrik.Security.Access")]
    [InlineData("Fabrik.Execution", "Fabrik.Security.Transport")]
    [InlineData("Fabrik.Execution", "Fabrik.Security.Access")]
    [InlineData("Fabrik.Devices", "Fabrik.Security.Transport")]
    [InlineData("Fabrik.Devices", "Fabrik.Security.Access")]
    public void ModelLayers_UseModelSigning_NeverTransportOrAccess(string user, string forbidden) =>
        Types().That().ResideInNamespaceOrBelow(user).Should()
            .NotDependOnAny(Types().That().ResideInNamespaceOrBelow(forbidden))
            .Because($"{forbidden} belongs to the listeners and the protocols, above {user}")
            .Check(Compiled);

    /// <summary>What the security layers share uses none of them; only the flags' record names
    /// their settings' types (TlsFiles, RestrictedApi).</summary>
    [Fact]
    public void SecurityShared_UsesNoSecurityLayer() =>
        Types().That().ResideInNamespace("Fabrik.Security").And().DoNotHaveName(nameof(Fabrik.Security.SecuritySettings)).Should()
            .NotDependOnAny(Types().That().ResideInNamespaceOrBelow(SecurityLayers[0])
                .Or().ResideInNamespaceOrBelow(SecurityLayers[1])
                .Or().ResideInNamespaceOrBelow(SecurityLayers[2]))
            .Because("the layers build on the shared part, not the other way round")
            .Check(Compiled);

    [Theory]
    [InlineData("Fabrik.Models")]
    [InlineData("Fabrik.Ensembles")]
    [InlineData("Fabrik.Scheduling")]
    [InlineData("Fabrik.Execution")]
    [InlineData("Fabrik.Devices")]
    [InlineData("Fabrik.Configuration")]
    [InlineData("Fabrik.Tensors")]
    public void Core_NeverSeesAspNetCoreOrGrpcTypes(string core) =>
        Types().That().ResideInNamespaceOrBelow(core).Should()
            .NotDependOnAny(Types().That().ResideInNamespaceOrBelow("Microsoft.AspNetCore")
                .Or().ResideInNamespaceOrBelow("Grpc")
                .Or().ResideInNamespaceOrBelow("Google.Protobuf"))
            .Because("status codes, requests and wire messages belong to the protocols")
            .Check(WithProtocolFrameworks.Value);

    /// <summary>A tenant knows only the request vocabulary it implements (RequestTenant): the key
    /// file's access check uses it, so it may use nothing of Security (no cycle), and the metrics
    /// and usage records that read it are wired by Hosting.</summary>
    [Fact]
    public void Tenancy_UsesOnlyTheRequestVocabulary() =>
        Types().That().ResideInNamespaceOrBelow("Fabrik.Tenancy").Should()
            .NotDependOnAny(Types().That().ResideInNamespaceOrBelow("Fabrik")
                .And().DoNotResideInNamespaceOrBelow("Fabrik.Tenancy").And().DoNotResideInNamespaceOrBelow("Fabrik.Inference"))
            .Because("tenants are resolved by Security.Access and read by Protocol, Scheduling and Hosting, never the other way round")
            .Check(Compiled);

    /// <summary>An ensemble's steps go through their models' own schedulers, reached through
    /// IComposingModels: the ensemble code never drives a scheduler or a backend itself.</summary>
    [Theory]
    [InlineData("Fabrik.Scheduling")]
    [InlineData("Fabrik.Execution")]
    public void Ensembles_ReachTheirModelsOnlyThroughTheModelLayer(string forbidden) =>
        Types().That().ResideInNamespaceOrBelow("Fabrik.Ensembles").Should()
            .NotDependOnAny(Types().That().ResideInNamespaceOrBelow(forbidden))
            .Because("each step is a request to its composing model, which schedules it like any other")
            .Check(Compiled);

    [Fact]
    public void Execution_NeverUsesObservability() =>
        Types().That().ResideInNamespaceOrBelow("Fabrik.Execution").Should()
            .NotDependOnAny(Types().That().ResideInNamespaceOrBelow("Fabrik.Observability"))
            .Because("the scheduler records what an execution reports; backends record nothing themselves")
            .Check(Compiled);

    [Fact]
    public void Tensors_UseNoOtherPartOfTheServer() =>
        Types().That().ResideInNamespaceOrBelow("Fabrik.Tensors").Should()
            .NotDependOnAny(Types().That().ResideInNamespaceOrBelow("Fabrik").And().DoNotResideInNamespaceOrBelow("Fabrik.Tensors"))
            .Check(Compiled);

    [Fact]
    public void Errors_UseNoOtherPartOfTheServer() =>
        Types().That().ResideInNamespaceOrBelow("Fabrik.Errors").Should()
            .NotDependOnAny(Types().That().ResideInNamespaceOrBelow("Fabrik").And().DoNotResideInNamespaceOrBelow("Fabrik.Errors"))
            .Check(Compiled);

    [Fact]
    public void Native_KnowsNothingOfTheServer() =>
        Types().That().ResideInAssembly(NativeAssembly).Should()
            .NotDependOnAny(Types().That().ResideInAssembly(RuntimeAssembly))
            .Check(Compiled);

    [Fact]
    public void Backends_OnlyTheRegistryNamesThem() =>
        Types().That().ResideInNamespaceOrBelow("Fabrik").And().DoNotResideInNamespaceOrBelow("Fabrik.Execution")
            .Should().NotDependOnAny(Types().That().ResideInNamespaceOrBelow("Fabrik.Execution.OnnxRuntime").Or().ResideInNamespaceOrBelow("Fabrik.Execution.TorchSharp"))
            .Because("a backend is one folder under Execution plus one registration line in BackendRegistry")
            .Check(Compiled);
}
