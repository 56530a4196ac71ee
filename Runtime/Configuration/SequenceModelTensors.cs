namespace Fabrik.Configuration;

/// <summary>
/// The tensors a stateful model has beyond what clients send and receive. Clients see the inputs
/// and outputs of config.pbtxt; the backend sees those, then one input per <c>control_input</c>
/// (in configuration order, dims [1]), then one input per implicit <c>state</c>, and after the
/// outputs one output per state. The scheduler fills and strips the extra ones in that order.
/// </summary>
internal static class SequenceModelTensors
{
    /// <summary>The configuration the backend creates its sessions from.</summary>
    public static ModelConfig ForBackend(ModelConfig config)
    {
        if (config.SequenceBatching is not { } sequences)
        {
            return config;
        }
        var controls = sequences.Controls.Select(control => new TensorConfig(control.Name, control.DataType, [1]));
        var stateInputs = sequences.States.Select(state => new TensorConfig(state.InputName, state.DataType, state.Dims));
        var stateOutputs = sequences.States.Select(state => new TensorConfig(state.OutputName, state.DataType, state.Dims));
        return config with
        {
            Inputs = [.. config.Inputs, .. controls, .. stateInputs],
            Outputs = [.. config.Outputs, .. stateOutputs],
        };
    }

    /// <summary>The client's view: without inputs and outputs that the sequence batcher fills
    /// (an auto-completed configuration lists every tensor of the model).</summary>
    public static ModelConfig ForClients(ModelConfig config)
    {
        if (config.SequenceBatching is not { } sequences)
        {
            return config;
        }
        var inputs = sequences.Controls.Select(control => control.Name).Concat(sequences.States.Select(state => state.InputName)).ToHashSet(StringComparer.Ordinal);
        var outputs = sequences.States.Select(state => state.OutputName).ToHashSet(StringComparer.Ordinal);
        return config with
        {
            Inputs = [.. config.Inputs.Where(input => !inputs.Contains(input.Name))],
            Outputs = [.. config.Outputs.Where(output => !outputs.Contains(output.Name))],
        };
    }

    /// <summary>Why the sequence batcher cannot serve this configuration; null when it can.</summary>
    public static string? Problem(ModelConfig config)
    {
        if (config.SequenceBatching is not { } sequences)
        {
            return null;
        }
        var names = new HashSet<string>(config.Inputs.Select(input => input.Name), StringComparer.Ordinal);
        foreach (var name in sequences.Controls.Select(control => control.Name).Concat(sequences.States.Select(state => state.InputName)))
        {
            if (!names.Add(name))
            {
                return $"sequence_batching gives input '{name}' twice (as a control, a state or a client input)";
            }
        }
        var outputs = new HashSet<string>(config.Outputs.Select(output => output.Name), StringComparer.Ordinal);
        foreach (var state in sequences.States)
        {
            if (!outputs.Add(state.OutputName))
            {
                return $"sequence_batching state output '{state.OutputName}' is given twice";
            }
        }
        if (config.Warmup.Length > 0)
        {
            return "model_warmup is not supported with sequence_batching";
        }
        return null;
    }
}
