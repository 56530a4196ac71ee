namespace Fabrik.Ensembles;

/// <summary>
/// An ensemble checked against the models its steps name (<see cref="EnsemblePlanner"/>): every
/// tensor name the ensemble knows has a slot; each ensemble input, step input and step output, and
/// each ensemble output, refers to one. Immutable; built when the ensemble loads.
/// </summary>
internal sealed class EnsemblePlan
{
    /// <summary>The ensemble's name.</summary>
    public required string Name { get; init; }

    /// <summary>The ensemble's max_batch_size (0: its tensors carry no batch dimension).</summary>
    public required int MaxBatchSize { get; init; }

    /// <summary>The tensor name of each slot.</summary>
    public required string[] TensorNames { get; init; }

    /// <summary>The slot of each ensemble input, in configuration order.</summary>
    public required int[] InputSlots { get; init; }

    /// <summary>The slot of each ensemble output, in configuration order.</summary>
    public required int[] OutputSlots { get; init; }

    /// <summary>The steps in configuration order.</summary>
    public required PlannedStep[] Steps { get; init; }

    /// <summary>Step indices in an order where every step comes after the steps it reads from.</summary>
    public required int[] Order { get; init; }

    /// <summary>True when each step in <see cref="Order"/> reads from the one before it, so no two
    /// steps can ever run at once.</summary>
    public required bool IsChain { get; init; }

    /// <summary>Bounds the requests inside the ensemble at once; 0 for no bound.</summary>
    public required int MaxInflightRequests { get; init; }

    /// <summary>The model names the steps run, once each.</summary>
    public IEnumerable<string> ComposingModels => Steps.Select(step => step.Step.ModelName).Distinct(StringComparer.Ordinal);
}
