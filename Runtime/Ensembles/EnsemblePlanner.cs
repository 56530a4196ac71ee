using System.Collections.Immutable;
using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Tensors;

namespace Fabrik.Ensembles;

/// <summary>
/// Checks an ensemble against the models its steps name, as Triton does when it loads one, and
/// builds its <see cref="EnsemblePlan"/>. Each failure is an <see cref="InvalidOperationException"/>
/// whose message names the step and the tensor: a model that is not served, a map naming a tensor
/// the model does not have, a model input left unmapped, a tensor produced twice or by nothing,
/// a cycle, a datatype or shape that differs between a tensor's producer and a consumer, and an
/// ensemble input that no step reads. Shapes are compared in full (the batch dimension as -1 for
/// a model that batches), -1 matching any size; what -1 leaves open is checked per request.
/// </summary>
internal static class EnsemblePlanner
{
    /// <summary>Where a tensor comes from: a step (-1 for the ensemble's own input), its declared
    /// configuration and whether that declaration carries a batch dimension.</summary>
    private readonly record struct Producer(int Step, TensorConfig Tensor, bool Batched, string Label);

    public static EnsemblePlan Plan(ModelConfig config, IComposingModels models)
    {
        var scheduling = config.Ensemble ?? throw new ArgumentException("not an ensemble", nameof(config));
        var slots = new Dictionary<string, int>(StringComparer.Ordinal);
        var producers = new List<Producer?>();
        var ensembleBatched = config.MaxBatchSize > 0;
        int Slot(string name)
        {
            if (!slots.TryGetValue(name, out var slot))
            {
                slots[name] = slot = producers.Count;
                producers.Add(null);
            }
            return slot;
        }

        var inputSlots = config.Inputs.Select(input =>
        {
            var slot = Slot(input.Name);
            producers[slot] = new Producer(-1, input, ensembleBatched, $"ensemble input '{input.Name}'");
            return slot;
        }).ToArray();

        var steps = new PlannedStep[scheduling.Steps.Length];
        for (var i = 0; i < steps.Length; i++)
        {
            steps[i] = BindStep(i, scheduling.Steps[i], config, models, Slot, producers);
        }
        var consumed = new HashSet<int>();
        for (var i = 0; i < steps.Length; i++)
        {
            steps[i] = steps[i] with { DependsOn = Dependencies(steps[i], producers, consumed, slots) };
        }
        var order = Order(steps, [.. slots.OrderBy(pair => pair.Value).Select(pair => pair.Key)]);
        var outputSlots = config.Outputs.Select(output =>
        {
            var producer = slots.TryGetValue(output.Name, out var slot) ? producers[slot] : null;
            if (producer is not { Step: >= 0 } from)
            {
                throw new InvalidOperationException($"ensemble output '{output.Name}' is produced by no step (no output_map names it)");
            }
            CheckCompatible(from, output, ensembleBatched, $"ensemble output '{output.Name}'");
            return slot;
        }).ToArray();
        foreach (var input in config.Inputs)
        {
            if (!consumed.Contains(slots[input.Name]))
            {
                throw new InvalidOperationException($"ensemble input '{input.Name}' is read by no step (no input_map names it)");
            }
        }
        var names = new string[producers.Count];
        foreach (var (name, slot) in slots)
        {
            names[slot] = name;
        }
        return new EnsemblePlan
        {
            Name = config.Name,
            MaxBatchSize = config.MaxBatchSize,
            TensorNames = names,
            InputSlots = inputSlots,
            OutputSlots = outputSlots,
            Steps = steps,
            Order = order,
            IsChain = order.Skip(1).Select((step, k) => steps[step].DependsOn.Contains(order[k])).All(link => link),
            MaxInflightRequests = scheduling.MaxInflightRequests,
        };
    }

    private static PlannedStep BindStep(int index, EnsembleStep step, ModelConfig ensemble, IComposingModels models, Func<string, int> slot, List<Producer?> producers)
    {
        var label = $"step {index} ('{step.ModelName}')";
        ModelConfig model;
        try
        {
            model = models.Describe(step.ModelName, step.VersionText);
        }
        catch (InferenceException e)
        {
            throw new InvalidOperationException($"{label}: {e.Message}", e);
        }
        if (model.Name == ensemble.Name)
        {
            throw new InvalidOperationException($"{label}: an ensemble cannot run itself");
        }
        if (ensemble.MaxBatchSize > 0 && model.MaxBatchSize < ensemble.MaxBatchSize)
        {
            throw new InvalidOperationException(
                $"{label}: the model's max_batch_size is {model.MaxBatchSize}, below the ensemble's {ensemble.MaxBatchSize}");
        }
        var inputSlots = Enumerable.Repeat(-1, model.Inputs.Length).ToArray();
        foreach (var (key, tensor) in step.InputMap.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            var at = IndexOf(model.Inputs, key);
            inputSlots[at >= 0 ? at : throw new InvalidOperationException($"{label}: input_map names '{key}', which is not an input of model '{model.Name}'")] = slot(tensor);
        }
        for (var i = 0; i < inputSlots.Length; i++)
        {
            if (inputSlots[i] < 0 && !model.Inputs[i].Optional)
            {
                throw new InvalidOperationException($"{label}: input '{model.Inputs[i].Name}' of model '{model.Name}' is fed by nothing (add it to input_map)");
            }
        }
        var outputSlots = Enumerable.Repeat(-1, model.Outputs.Length).ToArray();
        foreach (var (key, tensor) in step.OutputMap.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            var at = IndexOf(model.Outputs, key);
            if (at < 0)
            {
                throw new InvalidOperationException($"{label}: output_map names '{key}', which is not an output of model '{model.Name}'");
            }
            var target = outputSlots[at] = slot(tensor);
            if (producers[target] is { } earlier)
            {
                throw new InvalidOperationException($"tensor '{tensor}' is produced twice: by {earlier.Label} and by {label}");
            }
            producers[target] = new Producer(index, model.Outputs[at], model.MaxBatchSize > 0, $"{label} output '{key}'");
        }
        return new PlannedStep(index, step, model, inputSlots, outputSlots, []);
    }

    /// <summary>The steps <paramref name="step"/> reads from, once each; checks that every tensor
    /// it reads is produced, with its input's datatype and shape.</summary>
    private static int[] Dependencies(PlannedStep step, List<Producer?> producers, HashSet<int> consumed, Dictionary<string, int> slots)
    {
        var dependencies = new SortedSet<int>();
        for (var i = 0; i < step.InputSlots.Length; i++)
        {
            var slot = step.InputSlots[i];
            if (slot < 0)
            {
                continue;
            }
            var input = step.Model.Inputs[i];
            var tensor = slots.First(pair => pair.Value == slot).Key;
            var producer = producers[slot] ?? throw new InvalidOperationException(
                $"{step.Label}: input '{input.Name}' reads tensor '{tensor}', which no step produces and which is not an ensemble input");
            CheckCompatible(producer, input, step.Model.MaxBatchSize > 0, $"{step.Label} input '{input.Name}' (tensor '{tensor}')");
            consumed.Add(slot);
            if (producer.Step >= 0)
            {
                dependencies.Add(producer.Step);
            }
        }
        return [.. dependencies];
    }

    /// <summary>Kahn's order over the steps; the steps left over form a cycle.</summary>
    private static int[] Order(PlannedStep[] steps, string[] names)
    {
        var order = new List<int>(steps.Length);
        var placed = new bool[steps.Length];
        while (order.Count < steps.Length)
        {
            var next = Array.FindIndex(steps, step => !placed[step.Index] && step.DependsOn.All(d => placed[d]));
            if (next < 0)
            {
                var cycle = steps.Where(step => !placed[step.Index]).ToList();
                var through = cycle.SelectMany(step => step.InputSlots.Where(slot => slot >= 0 && cycle.Any(other => other.OutputSlots.Contains(slot))))
                    .Select(slot => $"'{names[slot]}'").Distinct();
                throw new InvalidOperationException(
                    $"the steps {string.Join(", ", cycle.Select(step => step.Label))} form a cycle through tensor(s) {string.Join(", ", through)}");
            }
            placed[next] = true;
            order.Add(next);
        }
        return [.. order];
    }

    private static void CheckCompatible(Producer producer, TensorConfig consumer, bool consumerBatched, string what)
    {
        var from = FullShape(producer.Tensor.Dims, producer.Batched);
        var to = FullShape(consumer.Dims, consumerBatched);
        if (producer.Tensor.DataType != consumer.DataType)
        {
            throw new InvalidOperationException(
                $"{what} is {consumer.DataType.ConfigName()}, but {producer.Label} gives {producer.Tensor.DataType.ConfigName()}");
        }
        if (from.Length != to.Length || from.Zip(to).Any(pair => pair.First != pair.Second && pair.First != -1 && pair.Second != -1))
        {
            throw new InvalidOperationException($"{what} has shape {Format(to)}, but {producer.Label} gives {Format(from)}");
        }
    }

    /// <summary>A tensor's shape with the batch dimension (-1) in front when it has one.</summary>
    public static long[] FullShape(ImmutableArray<long> dims, bool batched) => batched ? [-1, .. dims] : [.. dims];

    public static string Format(IEnumerable<long> shape) => $"[{string.Join(",", shape)}]";

    private static int IndexOf(ImmutableArray<TensorConfig> tensors, string name)
    {
        for (var i = 0; i < tensors.Length; i++)
        {
            if (tensors[i].Name == name)
            {
                return i;
            }
        }
        return -1;
    }
}
