namespace Fabrik.Configuration;

/// <summary>The control signals the sequence batcher gives a model (Triton's Control.Kind).</summary>
internal enum SequenceControlKind
{
    /// <summary>CONTROL_SEQUENCE_START: true on the first request of a sequence.</summary>
    Start,

    /// <summary>CONTROL_SEQUENCE_READY: true for a batch row that holds a request.</summary>
    Ready,

    /// <summary>CONTROL_SEQUENCE_END: true on the last request of a sequence.</summary>
    End,

    /// <summary>CONTROL_SEQUENCE_CORRID: the sequence's correlation id.</summary>
    CorrelationId,
}
