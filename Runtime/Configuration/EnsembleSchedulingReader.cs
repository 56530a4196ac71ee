using System.Collections.Immutable;
using static Fabrik.Configuration.TextFieldValues;

namespace Fabrik.Configuration;

/// <summary>
/// Reads <c>ensemble_scheduling</c> as Triton's ModelEnsembling: <c>step</c> entries with
/// <c>model_name</c>, <c>model_version</c> (default -1, the newest), and the <c>input_map</c> and
/// <c>output_map</c> maps (key: the composing model's tensor; value: the ensemble's tensor), and
/// <c>max_inflight_requests</c> (or <c>max_inflight_responses</c>). What a step names is checked against the loaded models when the
/// ensemble loads (Fabrik.Ensembles); here only the text is.
/// </summary>
internal static class EnsembleSchedulingReader
{
    public static EnsembleSchedulingConfig Read(TextField field)
    {
        var steps = ImmutableArray.CreateBuilder<EnsembleStep>();
        var maxInflight = 0;
        foreach (var child in Message(field).Fields)
        {
            switch (child.Name)
            {
                case "step": steps.Add(Step(child, steps.Count)); break;
                // Triton's documentation names it max_inflight_requests, its model_config.proto
                // max_inflight_responses; both are read.
                case "max_inflight_requests" or "max_inflight_responses": maxInflight = (int)Math.Min(NonNegative(child), int.MaxValue); break;
                default: throw ConfigFormatException.At(child.Position, $"ensemble_scheduling field '{child.Name}' is not supported");
            }
        }
        if (steps.Count == 0)
        {
            throw ConfigFormatException.At(field.Position, "ensemble_scheduling needs at least one step");
        }
        return new EnsembleSchedulingConfig(steps.ToImmutable(), maxInflight);
    }

    /// <summary>An ensemble is <c>platform: "ensemble"</c> with <c>ensemble_scheduling</c>, and
    /// neither comes without the other; its scheduler is the ensemble's, so it has no batcher of
    /// its own (Triton's scheduling_choice).</summary>
    public static void CheckPlatform(string platform, EnsembleSchedulingConfig? ensemble, bool hasBatcher)
    {
        var isEnsemble = platform == EnsembleSchedulingConfig.Platform;
        if (isEnsemble && ensemble is null)
        {
            throw new ConfigFormatException("platform \"ensemble\" needs an ensemble_scheduling block with its steps");
        }
        if (!isEnsemble && ensemble is not null)
        {
            throw new ConfigFormatException($"ensemble_scheduling is only for platform \"ensemble\", not '{platform}'");
        }
        if (isEnsemble && hasBatcher)
        {
            throw new ConfigFormatException("an ensemble has no dynamic_batching or sequence_batching of its own; its steps' models batch");
        }
    }

    private static EnsembleStep Step(TextField field, int index)
    {
        var name = "";
        var version = -1L;
        var inputs = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        var outputs = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var child in Message(field).Fields)
        {
            switch (child.Name)
            {
                case "model_name": name = String(child); break;
                case "model_version": version = Int64(child); break;
                case "input_map": MapEntry(child, inputs, index); break;
                case "output_map": MapEntry(child, outputs, index); break;
                default: throw ConfigFormatException.At(child.Position, $"ensemble step {index}: field '{child.Name}' is not supported");
            }
        }
        if (name.Length == 0)
        {
            throw ConfigFormatException.At(field.Position, $"ensemble step {index} has no model_name");
        }
        if (version < -1)
        {
            throw ConfigFormatException.At(field.Position, $"ensemble step {index} ('{name}'): model_version must be -1 (the newest) or a version number, got {version}");
        }
        return new EnsembleStep(name, version, inputs.ToImmutable(), outputs.ToImmutable());
    }

    /// <summary>One <c>key</c>/<c>value</c> entry of a map field; a key given twice is refused.</summary>
    private static void MapEntry(TextField field, ImmutableDictionary<string, string>.Builder map, int index)
    {
        var entry = Message(field);
        var key = entry.Fields.LastOrDefault(f => f.Name == "key");
        var value = entry.Fields.LastOrDefault(f => f.Name == "value");
        if (key is null || value is null)
        {
            throw ConfigFormatException.At(field.Position, $"ensemble step {index}: {field.Name} entries need a key and a value");
        }
        var name = String(key);
        if (!map.TryAdd(name, String(value)))
        {
            throw ConfigFormatException.At(field.Position, $"ensemble step {index}: {field.Name} names '{name}' twice");
        }
    }
}
