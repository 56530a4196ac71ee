using Fabrik.Configuration;
using Fabrik.Tensors;

namespace Fabrik.Models;

/// <summary>
/// Reads the <c>data_file</c> of each implicit state's <c>initial_state</c> from the model's
/// <c>initial_state/</c> folder, as Triton does, once at load time. The path is confined to the
/// model's folder (no escape through links), and the file must hold exactly the state's bytes.
/// </summary>
internal static class SequenceInitialStates
{
    public static ModelConfig Read(ModelConfig config, ModelSource source)
    {
        if (config.SequenceBatching is not { } sequences || !sequences.States.Any(state => state.InitialState?.DataFile.Length > 0))
        {
            return config;
        }
        var states = sequences.States.Select(state =>
        {
            if (state.InitialState is not { DataFile.Length: > 0 } initial)
            {
                return state;
            }
            // Confined to the model's own folder, not just the repository.
            var path = ModelRepository.Confine(source.Directory, Path.Combine(source.Directory, "initial_state", initial.DataFile));
            if (!File.Exists(path))
            {
                throw new InvalidOperationException($"initial_state data_file '{initial.DataFile}' of state '{state.InputName}' is not in the model's initial_state folder");
            }
            var expected = state.Dims.Aggregate(1L, (product, dim) => checked(product * dim)) * state.DataType.ElementSize();
            var length = new FileInfo(path).Length;
            if (length != expected)
            {
                throw new InvalidOperationException($"initial_state data_file '{initial.DataFile}' of state '{state.InputName}' holds {length} bytes; the state takes {expected}");
            }
            return state with { InitialState = initial with { Data = [.. File.ReadAllBytes(path)] } };
        });
        return config with { SequenceBatching = sequences with { States = [.. states] } };
    }
}
