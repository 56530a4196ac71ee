using Fabrik.Inference;

namespace Fabrik.Scheduling.Sequences;

/// <summary>
/// One request of a sequence, from admission until it is answered. <see cref="Pending"/> is what
/// the executor runs: its request holds the client's input buffers (still the client's) followed
/// by one slot per control input and per implicit state, which the instance loop fills when it
/// takes the request into a batch. <see cref="Client"/> is the caller's answer, which carries the
/// model's outputs without the state outputs.
/// </summary>
/// <remarks>Ownership: the caller owns the original request and its inputs; the batcher owns the
/// control tensors it places in <see cref="Pending"/> and frees them after the batch.</remarks>
internal sealed class SequenceRequest(PendingRequest pending, SequenceFlags flags)
{
    public PendingRequest Pending { get; } = pending;

    public SequenceFlags Flags { get; } = flags;

    public TaskCompletionSource<InferenceResponse> Client { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
