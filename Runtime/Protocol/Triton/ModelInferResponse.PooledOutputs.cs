using Fabrik.Inference;

namespace Fabrik.Protocol.Triton;

/// <summary>
/// The hand-written part of the generated <c>ModelInferResponse</c>: its raw_output_contents wrap
/// pooled output buffers instead of copies (<c>UnsafeByteOperations.UnsafeWrap</c>). Ownership: the
/// gRPC encoder (<c>GrpcTensorCodec.Encode</c>) hands the outputs to the message; the marshaller
/// releases them right after it has serialized the message (<c>GrpcServiceBinding</c>), and a call
/// that ends before serializing releases them itself. Releasing twice is harmless.
/// </summary>
public sealed partial class ModelInferResponse
{
    private InferenceResponse? _pooledOutputs;

    internal void HoldPooledOutputs(InferenceResponse outputs) => _pooledOutputs = outputs;

    /// <summary>Gives the pooled output buffers back; the message must not be serialized afterwards.</summary>
    internal void ReleasePooledOutputs() => Interlocked.Exchange(ref _pooledOutputs, null)?.Dispose();
}
