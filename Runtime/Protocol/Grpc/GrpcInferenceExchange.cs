using Fabrik.Inference;
using Fabrik.Errors;
using Fabrik.Models;
using Fabrik.Protocol.SharedMemory;
using Fabrik.Protocol.Triton;
using Fabrik.Tenancy;
using Fabrik.Tensors;
using Grpc.Core;

namespace Fabrik.Protocol.Grpc;

/// <summary>
/// The gRPC side of one inference (<see cref="InferencePipeline"/>): a <c>ModelInferRequest</c>
/// in, a <c>ModelInferResponse</c> out whose outputs wrap the pooled buffers until it is sent.
/// </summary>
internal readonly struct GrpcInferenceExchange(ModelInferRequest message, ServerCallContext context, TensorMemoryPool pool, SharedMemoryRegistry sharedMemory, Tenant? tenant = null)
    : IInferenceExchange<ModelInferResponse>
{
    public string Protocol => "GRPC";

    public string? TraceParent => context.GetHttpContext().Request.Headers.TraceParent;

    public string? TraceState => context.GetHttpContext().Request.Headers.TraceState;

    public Tenant? Tenant => tenant;

    public long RequestBytes => message.CalculateSize();

    public long ResponseBytes(ModelInferResponse result) => result.CalculateSize();

    public ValueTask<InferenceRequest> DecodeAsync(LoadedModel model, CancellationToken cancellation) =>
        ValueTask.FromResult(GrpcTensorCodec.Decode(message, model, pool, cancellation, Client, tenant));

    private SharedMemoryClient Client => new(sharedMemory, context.GetHttpContext().Connection.RemoteIpAddress);

    public ModelInferResponse Encode(LoadedModel model, InferenceRequest request, InferenceResponse response)
    {
        try
        {
            SharedMemoryTensors.WriteOutputs(Client, model, request, response);
            // The message owns the response's buffers from here until it is serialized.
            return GrpcTensorCodec.Encode(model, request, response);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>The gRPC status the call ends with, in the protocol's own spelling (<c>OK</c>,
    /// <c>INVALID_ARGUMENT</c>, ...).</summary>
    public string TraceStatus(Exception? error) => error switch
    {
        null => "OK",
        InferenceException e => Name(GrpcErrors.StatusCode(e.Kind)),
        OperationCanceledException => "CANCELLED",
        _ => "INTERNAL",
    };

    private static string Name(StatusCode code) => code switch
    {
        StatusCode.InvalidArgument => "INVALID_ARGUMENT",
        StatusCode.NotFound => "NOT_FOUND",
        StatusCode.Unavailable => "UNAVAILABLE",
        StatusCode.ResourceExhausted => "RESOURCE_EXHAUSTED",
        StatusCode.Unimplemented => "UNIMPLEMENTED",
        StatusCode.DeadlineExceeded => "DEADLINE_EXCEEDED",
        StatusCode.Cancelled => "CANCELLED",
        StatusCode.PermissionDenied => "PERMISSION_DENIED",
        _ => "INTERNAL",
    };
}
