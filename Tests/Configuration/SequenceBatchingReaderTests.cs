using Fabrik.Configuration;
using Fabrik.Tensors;
using Xunit;

namespace Fabrik.Tests.Configuration;

/// <summary>sequence_batching read with Triton's field names (model_config.proto's
/// ModelSequenceBatching), and the combinations Triton refuses refused with the field named.</summary>
public sealed class SequenceBatchingReaderTests
{
    private const string Head = """
        max_batch_size: 4
        input [ { name: "INPUT" data_type: TYPE_INT32 dims: [ 1 ] } ]
        output [ { name: "OUTPUT" data_type: TYPE_INT32 dims: [ 1 ] } ]

        """;

    [Fact]
    public void Parse_DirectWithControlsAndState_ReadsEveryField()
    {
        var config = ModelConfigReader.Parse(Head + """
            sequence_batching {
              max_sequence_idle_microseconds: 2500000
              direct { max_queue_delay_microseconds: 300 minimum_slot_utilization: 0.5 }
              control_input [
                { name: "S" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] },
                { name: "E" control [ { kind: CONTROL_SEQUENCE_END fp32_false_true: [ 0.5, 2.5 ] } ] },
                { name: "R" control [ { kind: CONTROL_SEQUENCE_READY bool_false_true: [ false, true ] } ] },
                { name: "C" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_STRING } ] }
              ]
              state [ { input_name: "IN" output_name: "OUT" data_type: TYPE_FP32 dims: [ 2, 3 ]
                        initial_state: { data_type: TYPE_FP32 dims: [ 2, 3 ] data_file: "start.bin" name: "init" } } ]
            }
            """, "m");

        var sequences = Assert.IsType<SequenceBatchingConfig>(config.SequenceBatching);
        Assert.Equal(SequenceStrategy.Direct, sequences.Strategy);
        Assert.Equal(2_500_000, sequences.MaxSequenceIdleMicroseconds);
        Assert.Equal(300, sequences.MaxQueueDelayMicroseconds);
        Assert.Equal(0.5, sequences.MinimumSlotUtilization);
        Assert.Equal(
            [new SequenceControlInput("S", SequenceControlKind.Start, DataType.Int32, 0, 1),
             new SequenceControlInput("E", SequenceControlKind.End, DataType.Fp32, 0.5, 2.5),
             new SequenceControlInput("R", SequenceControlKind.Ready, DataType.Bool, 0, 1),
             new SequenceControlInput("C", SequenceControlKind.CorrelationId, DataType.Bytes, 0, 0)],
            sequences.Controls.ToArray());
        var state = Assert.Single(sequences.States);
        Assert.Equal(("IN", "OUT", DataType.Fp32), (state.InputName, state.OutputName, state.DataType));
        Assert.Equal([2L, 3L], state.Dims.ToArray());
        Assert.Equal("start.bin", state.InitialState!.DataFile);
        Assert.Empty(config.IgnoredFields);
    }

    [Fact]
    public void Parse_Oldest_ReadsItsFields()
    {
        var sequences = ModelConfigReader.Parse(Head + """
            sequence_batching { oldest { max_candidate_sequences: 16 preferred_batch_size: [ 2, 4 ] max_queue_delay_microseconds: 100 preserve_ordering: true } }
            """, "m").SequenceBatching!;

        Assert.Equal(SequenceStrategy.Oldest, sequences.Strategy);
        Assert.Equal((16, 100L, true), (sequences.MaxCandidateSequences, sequences.MaxQueueDelayMicroseconds, sequences.PreserveOrdering));
        Assert.Equal([2, 4], sequences.PreferredBatchSizes.ToArray());
        Assert.Equal(SequenceBatchingConfig.DefaultMaxSequenceIdleMicroseconds, sequences.MaxSequenceIdleMicroseconds);
    }

    [Theory]
    [InlineData("sequence_batching { } dynamic_batching { }", "a model has one scheduler")]
    [InlineData("sequence_batching { direct { } oldest { } }", "one strategy")]
    [InlineData("sequence_batching { control_input [ { name: \"S\" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 1 ] } ] } ] }", "two values (false, true)")]
    [InlineData("sequence_batching { control_input [ { name: \"S\" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] fp32_false_true: [ 0, 1 ] } ] } ] }", "exactly one of int32_false_true")]
    [InlineData("sequence_batching { control_input [ { name: \"C\" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_FP32 } ] } ] }", "CONTROL_SEQUENCE_CORRID needs data_type")]
    [InlineData("sequence_batching { control_input [ { name: \"S\" control [ { kind: CONTROL_SEQUENCE_BEGIN } ] } ] }", "unknown control kind 'CONTROL_SEQUENCE_BEGIN'")]
    [InlineData("sequence_batching { control_input [ { name: \"A\" control [ { kind: CONTROL_SEQUENCE_READY int32_false_true: [ 0, 1 ] } ] }, { name: \"B\" control [ { kind: CONTROL_SEQUENCE_READY int32_false_true: [ 0, 1 ] } ] } ] }", "CONTROL_SEQUENCE_READY 2 times")]
    [InlineData("sequence_batching { state [ { input_name: \"I\" output_name: \"O\" data_type: TYPE_FP32 dims: [ -1 ] } ] }", "fixed-size states only")]
    [InlineData("sequence_batching { state [ { input_name: \"I\" output_name: \"O\" data_type: TYPE_FP32 dims: [ 1 ] initial_state: { data_type: TYPE_FP32 dims: [ 1 ] data_file: \"../x\" } } ] }", "must be a file name")]
    [InlineData("sequence_batching { direct { minimum_slot_utilization: 1.5 } }", "between 0 and 1")]
    public void Parse_CombinationTritonRefuses_NamesTheProblem(string block, string expected)
    {
        var error = Assert.Throws<ConfigFormatException>(() => ModelConfigReader.Parse(Head + block, "m"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ForBackend_AppendsControlsThenStates_AndForClientsTakesThemAway()
    {
        var config = ModelConfigReader.Parse(Head + """
            sequence_batching {
              control_input [ { name: "S" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] } ]
              state [ { input_name: "IN" output_name: "OUT" data_type: TYPE_INT32 dims: [ 1 ] } ]
            }
            """, "m");

        var backend = SequenceModelTensors.ForBackend(config);

        Assert.Equal(["INPUT", "S", "IN"], backend.Inputs.Select(input => input.Name).ToArray());
        Assert.Equal(["OUTPUT", "OUT"], backend.Outputs.Select(output => output.Name).ToArray());
        Assert.Equal(["INPUT"], SequenceModelTensors.ForClients(backend).Inputs.Select(input => input.Name).ToArray());
        Assert.Equal(["OUTPUT"], SequenceModelTensors.ForClients(backend).Outputs.Select(output => output.Name).ToArray());
        Assert.Null(SequenceModelTensors.Problem(config));
    }
}
