using ArchUnitNET.Loader;
using Xunit;
using static ArchUnitNET.Fluent.ArchRuleDefinition;

namespace Fabrik.Tests.Protocol;

/// <summary>
/// What the protocols share stays protocol-neutral: the inference pipeline (which a third
/// protocol will also decode into) sees no HTTP or gRPC type, and the Triton wire model, used by
/// HTTP and gRPC alike, uses neither protocol's code. Checked on the compiled assembly (method
/// bodies included) by the full names of what each type uses: types of assemblies that are not
/// loaded here, such as ASP.NET Core's, are known only by name.
/// </summary>
public sealed class ProtocolNeutralityTests
{
    private static readonly ArchUnitNET.Domain.Architecture Compiled =
        new ArchLoader().LoadAssemblies(typeof(Fabrik.Hosting.FabrikServer).Assembly).Build();

    [Fact]
    public void InferencePipeline_SeesNoHttpOrGrpcType()
    {
        var pipeline = Types().That().HaveFullName("Fabrik.Protocol.InferencePipeline")
            .Or().HaveFullNameStartingWith("Fabrik.Protocol.IInferenceExchange").GetObjects(Compiled).ToList();
        Assert.Equal(2, pipeline.Count);
        AssertUsesNone(pipeline, "Microsoft.AspNetCore.", "Grpc.", "Google.Protobuf.", "Fabrik.Protocol.Http.", "Fabrik.Protocol.Grpc.", "Fabrik.Protocol.Triton.");
    }

    [Fact]
    public void TritonWireModel_UsesNeitherProtocolsCode()
    {
        var wire = Types().That().ResideInNamespaceOrBelow("Fabrik.Protocol.Triton").GetObjects(Compiled).ToList();
        Assert.Contains(wire, type => type.FullName == "Fabrik.Protocol.Triton.ModelInferRequest");
        AssertUsesNone(wire, "Fabrik.Protocol.Http.", "Fabrik.Protocol.Grpc.");
    }

    private static void AssertUsesNone(IEnumerable<ArchUnitNET.Domain.IType> types, params string[] forbiddenPrefixes)
    {
        var uses = types.SelectMany(type => type.Dependencies.Select(dependency => (User: type.FullName, Used: dependency.Target.FullName)))
            .Where(use => forbiddenPrefixes.Any(prefix => use.Used.StartsWith(prefix, StringComparison.Ordinal)))
            .Select(use => $"{use.User} uses {use.Used}")
            .Distinct()
            .ToList();
        Assert.True(uses.Count == 0, string.Join("\n", uses));
    }
}
