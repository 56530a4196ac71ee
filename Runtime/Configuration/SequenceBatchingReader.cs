using System.Collections.Immutable;
using System.Globalization;
using Fabrik.Tensors;
using static Fabrik.Configuration.TextFieldValues;

namespace Fabrik.Configuration;

/// <summary>
/// Reads the <c>sequence_batching</c> block as Triton's ModelSequenceBatching: the idle time, the
/// <c>direct</c> or <c>oldest</c> strategy, <c>control_input</c> and <c>state</c>. A field that
/// would change the semantics and that Fabrik does not act on (<c>iterative_sequence</c>, a state's
/// <c>use_growable_memory</c>), and a control or state Triton would refuse, are a
/// <see cref="ConfigFormatException"/> naming it: the model is UNAVAILABLE rather than wrong.
/// </summary>
internal static class SequenceBatchingReader
{
    public static SequenceBatchingConfig Read(TextField field, ImmutableArray<string>.Builder ignored)
    {
        var config = new SequenceBatchingConfig();
        var controls = ImmutableArray.CreateBuilder<SequenceControlInput>();
        var states = ImmutableArray.CreateBuilder<SequenceStateConfig>();
        var strategies = 0;
        foreach (var child in Message(field).Fields)
        {
            switch (child.Name)
            {
                case "max_sequence_idle_microseconds": config = config with { MaxSequenceIdleMicroseconds = NonNegative(child) }; break;
                case "direct":
                    strategies++;
                    config = Direct(child, config, ignored);
                    break;
                case "oldest":
                    strategies++;
                    config = Oldest(child, config, ignored);
                    break;
                case "control_input": controls.Add(Control(child)); break;
                case "state": states.Add(State(child)); break;
                default: throw ConfigFormatException.At(child.Position, $"sequence_batching field '{child.Name}' is not supported");
            }
        }
        if (strategies > 1)
        {
            throw ConfigFormatException.At(field.Position, "sequence_batching takes one strategy, direct or oldest, not both");
        }
        foreach (var kind in controls.GroupBy(control => control.Kind).Where(group => group.Count() > 1))
        {
            throw ConfigFormatException.At(field.Position, $"sequence_batching names {Describe(kind.Key)} {kind.Count()} times; each control may be given to one input");
        }
        if (config.MaxSequenceIdleMicroseconds == 0)
        {
            config = config with { MaxSequenceIdleMicroseconds = SequenceBatchingConfig.DefaultMaxSequenceIdleMicroseconds };
        }
        return config with { Controls = controls.ToImmutable(), States = states.ToImmutable() };
    }

    /// <summary>Triton's name of a control kind.</summary>
    public static string Describe(SequenceControlKind kind) => kind switch
    {
        SequenceControlKind.Start => "CONTROL_SEQUENCE_START",
        SequenceControlKind.Ready => "CONTROL_SEQUENCE_READY",
        SequenceControlKind.End => "CONTROL_SEQUENCE_END",
        _ => "CONTROL_SEQUENCE_CORRID",
    };

    private static SequenceBatchingConfig Direct(TextField field, SequenceBatchingConfig config, ImmutableArray<string>.Builder ignored)
    {
        config = config with { Strategy = SequenceStrategy.Direct };
        foreach (var child in Message(field).Fields)
        {
            switch (child.Name)
            {
                case "max_queue_delay_microseconds": config = config with { MaxQueueDelayMicroseconds = NonNegative(child) }; break;
                case "minimum_slot_utilization":
                    var utilization = Double(child);
                    config = utilization is >= 0 and <= 1
                        ? config with { MinimumSlotUtilization = utilization }
                        : throw ConfigFormatException.At(child.Position, $"minimum_slot_utilization must be between 0 and 1, got {utilization.ToString(CultureInfo.InvariantCulture)}");
                    break;
                default: ignored.Add($"sequence_batching.direct.{child.Name}"); break;
            }
        }
        return config;
    }

    private static SequenceBatchingConfig Oldest(TextField field, SequenceBatchingConfig config, ImmutableArray<string>.Builder ignored)
    {
        config = config with { Strategy = SequenceStrategy.Oldest };
        var preferred = ImmutableArray.CreateBuilder<int>();
        foreach (var child in Message(field).Fields)
        {
            switch (child.Name)
            {
                case "max_candidate_sequences": config = config with { MaxCandidateSequences = (int)Math.Min(NonNegative(child), int.MaxValue) }; break;
                case "max_queue_delay_microseconds": config = config with { MaxQueueDelayMicroseconds = NonNegative(child) }; break;
                case "preserve_ordering": config = config with { PreserveOrdering = Bool(child) }; break;
                case "preferred_batch_size":
                    var size = Int32(child);
                    preferred.Add(size >= 1 ? size : throw ConfigFormatException.At(child.Position, $"preferred_batch_size must be at least 1, got {size}"));
                    break;
                default: ignored.Add($"sequence_batching.oldest.{child.Name}"); break;
            }
        }
        return config with { PreferredBatchSizes = preferred.ToImmutable() };
    }

    private static SequenceControlInput Control(TextField field)
    {
        string? name = null;
        var controls = new List<TextField>();
        foreach (var child in Message(field).Fields)
        {
            switch (child.Name)
            {
                case "name": name = String(child); break;
                case "control": controls.Add(child); break;
                default: throw ConfigFormatException.At(child.Position, $"unknown control_input field '{child.Name}'");
            }
        }
        if (string.IsNullOrEmpty(name))
        {
            throw ConfigFormatException.At(field.Position, "control_input has no name");
        }
        if (controls.Count != 1)
        {
            throw ConfigFormatException.At(field.Position, $"control_input '{name}' must have exactly one control, got {controls.Count}");
        }
        return ControlOf(name, controls[0]);
    }

    private static SequenceControlInput ControlOf(string name, TextField field)
    {
        SequenceControlKind? kind = null;
        var dataType = DataType.Invalid;
        var values = new List<double>();
        var valueLists = 0;
        foreach (var child in Message(field).Fields)
        {
            switch (child.Name)
            {
                case "kind":
                    kind = Identifier(child) switch
                    {
                        "CONTROL_SEQUENCE_START" => SequenceControlKind.Start,
                        "CONTROL_SEQUENCE_READY" => SequenceControlKind.Ready,
                        "CONTROL_SEQUENCE_END" => SequenceControlKind.End,
                        "CONTROL_SEQUENCE_CORRID" => SequenceControlKind.CorrelationId,
                        var other => throw ConfigFormatException.At(child.Position, $"control_input '{name}': unknown control kind '{other}'"),
                    };
                    break;
                case "int32_false_true":
                    valueLists |= 1;
                    dataType = DataType.Int32;
                    values.Add(Int32(child));
                    break;
                case "fp32_false_true":
                    valueLists |= 2;
                    dataType = DataType.Fp32;
                    values.Add((float)Double(child));
                    break;
                case "bool_false_true":
                    valueLists |= 4;
                    dataType = DataType.Bool;
                    values.Add(Bool(child) ? 1 : 0);
                    break;
                case "data_type":
                    var typeName = Identifier(child);
                    dataType = DataTypes.FromConfigName(typeName);
                    valueLists |= 8;
                    break;
                default: throw ConfigFormatException.At(child.Position, $"control_input '{name}': unknown control field '{child.Name}'");
            }
        }
        if (kind is not { } known)
        {
            throw ConfigFormatException.At(field.Position, $"control_input '{name}' has no kind");
        }
        if (known == SequenceControlKind.CorrelationId)
        {
            return valueLists == 8 && dataType is DataType.UInt64 or DataType.Int64 or DataType.UInt32 or DataType.Int32 or DataType.Bytes
                ? new SequenceControlInput(name, known, dataType, 0, 0)
                : throw ConfigFormatException.At(field.Position, $"control_input '{name}': CONTROL_SEQUENCE_CORRID needs data_type TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 or TYPE_STRING, and no false/true values");
        }
        if (valueLists is not (1 or 2 or 4) || values.Count != 2)
        {
            throw ConfigFormatException.At(field.Position,
                $"control_input '{name}': {Describe(known)} needs exactly one of int32_false_true, fp32_false_true or bool_false_true, with two values (false, true)");
        }
        return new SequenceControlInput(name, known, dataType, values[0], values[1]);
    }

    private static SequenceStateConfig State(TextField field)
    {
        string inputName = "", outputName = "";
        var dataType = DataType.Invalid;
        var dims = ImmutableArray.CreateBuilder<long>();
        var initial = new List<SequenceInitialState>();
        foreach (var child in Message(field).Fields)
        {
            switch (child.Name)
            {
                case "input_name": inputName = String(child); break;
                case "output_name": outputName = String(child); break;
                case "data_type": dataType = DataTypes.FromConfigName(Identifier(child)); break;
                case "dims": dims.Add(Dim(child)); break;
                case "initial_state": initial.Add(InitialState(child)); break;
                default: throw ConfigFormatException.At(child.Position, $"state field '{child.Name}' is not supported");
            }
        }
        if (inputName.Length == 0 || outputName.Length == 0)
        {
            throw ConfigFormatException.At(field.Position, "state needs an input_name and an output_name");
        }
        if (dataType is DataType.Invalid or DataType.Bytes)
        {
            throw ConfigFormatException.At(field.Position, $"state '{inputName}' needs a data_type, and Fabrik keeps fixed-size states only (not TYPE_STRING)");
        }
        if (dims.Count == 0 || dims.Any(dim => dim < 1))
        {
            throw ConfigFormatException.At(field.Position, $"state '{inputName}' needs dims, each at least 1: Fabrik keeps fixed-size states only");
        }
        if (initial.Count > 1)
        {
            throw ConfigFormatException.At(field.Position, $"state '{inputName}' has {initial.Count} initial_state entries; at most one is allowed");
        }
        var state = new SequenceStateConfig(inputName, outputName, dataType, dims.ToImmutable(), initial.Count == 1 ? initial[0] : null);
        if (state.InitialState is { } start && (start.DataType != dataType || !start.Dims.SequenceEqual(state.Dims)))
        {
            throw ConfigFormatException.At(field.Position, $"state '{inputName}': initial_state must have the state's data_type and dims");
        }
        return state;
    }

    private static SequenceInitialState InitialState(TextField field)
    {
        string name = "", file = "";
        var dataType = DataType.Invalid;
        var dims = ImmutableArray.CreateBuilder<long>();
        var sources = 0;
        foreach (var child in Message(field).Fields)
        {
            switch (child.Name)
            {
                case "name": name = String(child); break;
                case "data_type": dataType = DataTypes.FromConfigName(Identifier(child)); break;
                case "dims": dims.Add(Dim(child)); break;
                case "zero_data":
                    sources++;
                    if (!Bool(child))
                    {
                        throw ConfigFormatException.At(child.Position, "initial_state zero_data must be true when given");
                    }
                    break;
                case "data_file":
                    sources++;
                    file = String(child);
                    break;
                default: throw ConfigFormatException.At(child.Position, $"initial_state field '{child.Name}' is not supported");
            }
        }
        if (sources != 1)
        {
            throw ConfigFormatException.At(field.Position, "initial_state needs exactly one of zero_data or data_file");
        }
        if (file.Length > 0 && (file.Contains('/') || file.Contains('\\') || file is "." or ".."))
        {
            throw ConfigFormatException.At(field.Position, $"initial_state data_file '{file}' must be a file name inside the model's initial_state folder");
        }
        return new SequenceInitialState(name, dataType, dims.ToImmutable(), file);
    }

    private static long Dim(TextField field)
    {
        var dim = Int64(field);
        return dim >= -1 ? dim : throw ConfigFormatException.At(field.Position, $"dims must be -1 (variable) or non-negative, got {dim}");
    }

    private static double Double(TextField field)
    {
        var scalar = Scalar(field);
        return scalar.Kind == TextScalarKind.Number && double.TryParse(scalar.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
            ? value
            : throw ConfigFormatException.At(field.Position, $"field '{field.Name}' must be a finite number, got {scalar.Text}");
    }
}
