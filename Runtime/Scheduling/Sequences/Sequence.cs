using Fabrik.Tensors;

namespace Fabrik.Scheduling.Sequences;

/// <summary>
/// A live sequence: the slot it is bound to (none while it waits in the backlog), its requests not
/// yet run, in arrival order, and its implicit state.
/// </summary>
/// <remarks>Locking: every field but <see cref="States"/> is guarded by the batcher's gate.
/// <see cref="States"/> belongs to the instance loop while <see cref="Running"/> is set, and to
/// whoever releases the sequence (under the gate) otherwise: a sequence is released only when it
/// is not running.</remarks>
internal sealed class Sequence(SequenceId id, int stateCount)
{
    public SequenceId Id { get; } = id;

    /// <summary>The instance whose slot it holds; -1 while in the backlog.</summary>
    public int Instance { get; set; } = -1;

    /// <summary>Its batch slot on <see cref="Instance"/>; -1 while in the backlog.</summary>
    public int Slot { get; set; } = -1;

    /// <summary>Requests accepted and not yet taken into a batch, oldest first.</summary>
    public Queue<SequenceRequest> Requests { get; } = new();

    /// <summary>A request of it is in the batch running now.</summary>
    public bool Running { get; set; }

    /// <summary>TimeProvider timestamp of its last request's arrival or answer, for the idle timeout.</summary>
    public long LastActivity { get; set; }

    /// <summary>Implicit state, one tensor per configured state (null before the first request).</summary>
    public TensorBuffer?[] States { get; } = new TensorBuffer?[stateCount];

    public bool Bound => Slot >= 0;

    /// <summary>Frees the implicit state.</summary>
    public void ReleaseStates()
    {
        for (var i = 0; i < States.Length; i++)
        {
            States[i]?.Dispose();
            States[i] = null;
        }
    }
}
