using Fabrik.Tensors;

namespace Fabrik.Inference;

/// <summary>The outputs of one request.</summary>
/// <remarks>Ownership: the scheduler creates it and hands it to the protocol layer, which
/// disposes it after writing the response (or on failure).</remarks>
internal sealed class InferenceResponse(TensorBuffer[] outputs) : IDisposable
{
    /// <summary>Outputs in the model's configuration order.</summary>
    public TensorBuffer[] Outputs { get; } = outputs;

    public void Dispose()
    {
        foreach (var output in Outputs)
        {
            output.Dispose();
        }
    }
}
