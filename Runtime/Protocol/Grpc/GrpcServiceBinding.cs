using Fabrik.Protocol.Triton;
using Google.Protobuf;
using Grpc.Core;

namespace Fabrik.Protocol.Grpc;

/// <summary>
/// Binds <see cref="GrpcInferenceService"/> with marshallers that turn a malformed protobuf
/// message into INVALID_ARGUMENT naming the message, where the generated ones would fail the
/// call with UNKNOWN and log a stack trace for every bad request.
/// </summary>
/// <remarks>Used in place of the generated <c>GRPCInferenceService.BindService</c>.</remarks>
internal static class GrpcServiceBinding
{
    private const string ServiceName = "inference.GRPCInferenceService";

    /// <summary>Called by Grpc.AspNetCore through <see cref="BindServiceMethodAttribute"/>, which
    /// needs it public and static. It passes no service instance: each handler is found by name
    /// among the overrides of <see cref="GRPCInferenceService.GRPCInferenceServiceBase"/> and invoked on an instance
    /// resolved per call, so the handlers given here are null.</summary>
    public static void BindServiceRejectingMalformedMessages(ServiceBinderBase binder, GRPCInferenceService.GRPCInferenceServiceBase? service)
    {
        Unary<ServerLiveRequest, ServerLiveResponse>(binder, "ServerLive");
        Unary<ServerReadyRequest, ServerReadyResponse>(binder, "ServerReady");
        Unary<ModelReadyRequest, ModelReadyResponse>(binder, "ModelReady");
        Unary<ServerMetadataRequest, ServerMetadataResponse>(binder, "ServerMetadata");
        Unary<ModelMetadataRequest, ModelMetadataResponse>(binder, "ModelMetadata");
        Unary<ModelInferRequest, ModelInferResponse>(binder, "ModelInfer");
        binder.AddMethod(
            new Method<ModelInferRequest, ModelStreamInferResponse>(MethodType.DuplexStreaming, ServiceName, "ModelStreamInfer",
                Marshaller(ModelInferRequest.Parser), Marshaller(ModelStreamInferResponse.Parser)),
            (DuplexStreamingServerMethod<ModelInferRequest, ModelStreamInferResponse>)null!);
        Unary<ModelConfigRequest, ModelConfigResponse>(binder, "ModelConfig");
        Unary<ModelStatisticsRequest, ModelStatisticsResponse>(binder, "ModelStatistics");
        Unary<RepositoryIndexRequest, RepositoryIndexResponse>(binder, "RepositoryIndex");
        Unary<RepositoryModelLoadRequest, RepositoryModelLoadResponse>(binder, "RepositoryModelLoad");
        Unary<RepositoryModelUnloadRequest, RepositoryModelUnloadResponse>(binder, "RepositoryModelUnload");
        Unary<TraceSettingRequest, TraceSettingResponse>(binder, "TraceSetting");
        Unary<SystemSharedMemoryStatusRequest, SystemSharedMemoryStatusResponse>(binder, "SystemSharedMemoryStatus");
        Unary<SystemSharedMemoryRegisterRequest, SystemSharedMemoryRegisterResponse>(binder, "SystemSharedMemoryRegister");
        Unary<SystemSharedMemoryUnregisterRequest, SystemSharedMemoryUnregisterResponse>(binder, "SystemSharedMemoryUnregister");
        Unary<CudaSharedMemoryStatusRequest, CudaSharedMemoryStatusResponse>(binder, "CudaSharedMemoryStatus");
        Unary<CudaSharedMemoryRegisterRequest, CudaSharedMemoryRegisterResponse>(binder, "CudaSharedMemoryRegister");
        Unary<CudaSharedMemoryUnregisterRequest, CudaSharedMemoryUnregisterResponse>(binder, "CudaSharedMemoryUnregister");
    }

    private static void Unary<TRequest, TResponse>(ServiceBinderBase binder, string name)
        where TRequest : class, IMessage<TRequest>, IBufferMessage
        where TResponse : class, IMessage<TResponse>, IBufferMessage
    {
        var requestParser = (MessageParser<TRequest>)typeof(TRequest).GetProperty("Parser")!.GetValue(null)!;
        var responseParser = (MessageParser<TResponse>)typeof(TResponse).GetProperty("Parser")!.GetValue(null)!;
        binder.AddMethod(new Method<TRequest, TResponse>(MethodType.Unary, ServiceName, name, Marshaller(requestParser), Marshaller(responseParser)), (UnaryServerMethod<TRequest, TResponse>)null!);
    }

    /// <summary>An inference response's outputs wrap pooled buffers until it is written (see
    /// ModelInferResponse.HoldPooledOutputs).</summary>
    private static void ReleasePooledOutputs(object message)
    {
        switch (message)
        {
            case ModelInferResponse response:
                response.ReleasePooledOutputs();
                break;
            case ModelStreamInferResponse { InferResponse: { } response }:
                response.ReleasePooledOutputs();
                break;
        }
    }

    private static Marshaller<T> Marshaller<T>(MessageParser<T> parser) where T : class, IMessage<T>, IBufferMessage =>
        Marshallers.Create(
            (message, context) =>
            {
                try
                {
                    context.SetPayloadLength(message.CalculateSize());
                    message.WriteTo(context.GetBufferWriter());
                    context.Complete();
                }
                finally
                {
                    ReleasePooledOutputs(message);
                }
            },
            context =>
            {
                try
                {
                    return parser.ParseFrom(context.PayloadAsReadOnlySequence());
                }
                catch (Exception e) when (MalformedMessage.Describe(typeof(T).Name, e) is { } problem)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, problem));
                }
            });
}
