using Fabrik.Protocol.Grpc;
using Fabrik.Protocol.Triton;
using Grpc.Core;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>
/// The hand-written binding lists every RPC of the service: one the .proto declares but the
/// binding leaves out answers UNIMPLEMENTED although its handler exists.
/// </summary>
public sealed class GrpcServiceBindingTests
{
    [Fact]
    public void Binding_CoversEveryMethodOfTheProto_WithItsKind()
    {
        var binder = new RecordingBinder();
        GrpcServiceBinding.BindServiceRejectingMalformedMessages(binder, null);

        var declared = GRPCInferenceService.Descriptor.Methods
            .Select(method => (method.Name, Kind(method.IsClientStreaming, method.IsServerStreaming)))
            .Order()
            .ToArray();
        Assert.NotEmpty(declared);
        Assert.Equal(declared, binder.Methods.Order().ToArray());
        Assert.All(binder.Services, service => Assert.Equal("inference.GRPCInferenceService", service));
    }

    private static MethodType Kind(bool clientStreaming, bool serverStreaming) => (clientStreaming, serverStreaming) switch
    {
        (false, false) => MethodType.Unary,
        (true, false) => MethodType.ClientStreaming,
        (false, true) => MethodType.ServerStreaming,
        _ => MethodType.DuplexStreaming,
    };

    /// <summary>Records what is bound instead of serving it.</summary>
    private sealed class RecordingBinder : ServiceBinderBase
    {
        public List<(string Name, MethodType Kind)> Methods { get; } = [];

        public List<string> Services { get; } = [];

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) => Record(method);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) => Record(method);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) => Record(method);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) => Record(method);

        private void Record(IMethod method)
        {
            Methods.Add((method.Name, method.Type));
            Services.Add(method.ServiceName);
        }
    }
}
