using Fabrik.Configuration;

namespace Fabrik.Ensembles;

/// <summary>One step as the plan runs it: the step, the configuration of the model it was checked
/// against, which ensemble tensor feeds each model input and which tensor each model output
/// becomes (by slot; -1 where unmapped), and the steps whose outputs it reads.</summary>
internal sealed record PlannedStep(int Index, EnsembleStep Step, ModelConfig Model, int[] InputSlots, int[] OutputSlots, int[] DependsOn)
{
    /// <summary>How messages name the step: its position and model.</summary>
    public string Label => $"step {Index} ('{Step.ModelName}')";
}
