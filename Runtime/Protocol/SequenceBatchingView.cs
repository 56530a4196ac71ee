using Fabrik.Configuration;
using Fabrik.Protocol.Triton;
using Control = Fabrik.Protocol.Triton.ModelSequenceBatching.Types.Control;

namespace Fabrik.Protocol;

/// <summary>The sequence_batching block as Triton's ModelSequenceBatching message, for the
/// configuration a model was loaded with (both protocols report it).</summary>
internal static class SequenceBatchingView
{
    public static ModelSequenceBatching Of(SequenceBatchingConfig sequences)
    {
        var message = new ModelSequenceBatching { MaxSequenceIdleMicroseconds = (ulong)sequences.MaxSequenceIdleMicroseconds };
        if (sequences.Strategy == SequenceStrategy.Oldest)
        {
            message.Oldest = new ModelSequenceBatching.Types.StrategyOldest
            {
                MaxCandidateSequences = sequences.MaxCandidateSequences,
                MaxQueueDelayMicroseconds = (ulong)sequences.MaxQueueDelayMicroseconds,
                PreserveOrdering = sequences.PreserveOrdering,
                PreferredBatchSize = { sequences.PreferredBatchSizes },
            };
        }
        else
        {
            message.Direct = new ModelSequenceBatching.Types.StrategyDirect
            {
                MaxQueueDelayMicroseconds = (ulong)sequences.MaxQueueDelayMicroseconds,
                MinimumSlotUtilization = (float)sequences.MinimumSlotUtilization,
            };
        }
        foreach (var control in sequences.Controls)
        {
            message.ControlInput.Add(new ModelSequenceBatching.Types.ControlInput { Name = control.Name, Control = { ControlOf(control) } });
        }
        foreach (var state in sequences.States)
        {
            var wire = new ModelSequenceBatching.Types.State
            {
                InputName = state.InputName,
                OutputName = state.OutputName,
                DataType = ServerViews.WireType(state.DataType),
                Dims = { state.Dims },
            };
            if (state.InitialState is { } initial)
            {
                var start = new ModelSequenceBatching.Types.InitialState { Name = initial.Name, DataType = ServerViews.WireType(initial.DataType), Dims = { initial.Dims } };
                if (initial.DataFile.Length > 0)
                {
                    start.DataFile = initial.DataFile;
                }
                else
                {
                    start.ZeroData = true;
                }
                wire.InitialState.Add(start);
            }
            message.State.Add(wire);
        }
        return message;
    }

    private static Control ControlOf(SequenceControlInput control)
    {
        var wire = new Control
        {
            Kind = control.Kind switch
            {
                SequenceControlKind.Start => Control.Types.Kind.ControlSequenceStart,
                SequenceControlKind.Ready => Control.Types.Kind.ControlSequenceReady,
                SequenceControlKind.End => Control.Types.Kind.ControlSequenceEnd,
                _ => Control.Types.Kind.ControlSequenceCorrid,
            },
        };
        switch (control.DataType)
        {
            case var _ when control.Kind == SequenceControlKind.CorrelationId: wire.DataType = ServerViews.WireType(control.DataType); break;
            case Tensors.DataType.Int32: wire.Int32FalseTrue.Add([(int)control.FalseValue, (int)control.TrueValue]); break;
            case Tensors.DataType.Fp32: wire.Fp32FalseTrue.Add([(float)control.FalseValue, (float)control.TrueValue]); break;
            default: wire.BoolFalseTrue.Add([control.FalseValue != 0, control.TrueValue != 0]); break;
        }
        return wire;
    }
}
