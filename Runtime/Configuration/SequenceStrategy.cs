namespace Fabrik.Configuration;

/// <summary>How the sequence batcher forms batches (Triton's <c>strategy_choice</c>).</summary>
internal enum SequenceStrategy
{
    /// <summary>Each sequence owns one batch slot of one instance from start to end; a batch holds
    /// every slot up to the highest one with a request, empty slots marked not ready.</summary>
    Direct,

    /// <summary>Each sequence is bound to one instance; a batch takes the oldest requests of up to
    /// <c>max_candidate_sequences</c> sequences, as the dynamic batcher would.</summary>
    Oldest,
}
