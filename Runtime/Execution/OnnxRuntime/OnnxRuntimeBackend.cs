using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Execution.Pipeline;
using Fabrik.Tensors;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>ONNX Runtime: <c>onnxruntime_onnx</c> models, auto-completed from the graph, with
/// external-data files confined by the loader.</summary>
internal sealed class OnnxRuntimeBackend : IModelBackend
{
    public string Name => "onnxruntime";

    public IReadOnlyList<string> Platforms { get; } = ["onnxruntime_onnx"];

    public string DefaultModelFileName => "model.onnx";

    /// <summary>Two sessions run requests side by side, so one request's HTTP work overlaps
    /// another's inference instead of queueing behind it (Triton's default too).</summary>
    public int DefaultCpuInstanceCount => 2;

    /// <summary>A graph may take no inputs (a model of constants), but it must give an output.</summary>
    public string? ConfigProblem(ModelConfig config) =>
        config.Outputs.Length == 0 ? "the configuration declares no outputs, and auto-complete is disabled" : null;

    public string? NoGpuReason => DevicePlacement.BuildHasCuda ? null : DevicePlacement.NoCudaBuildReason;

    public ModelConfig AutoComplete(ModelConfig config, string modelPath) => OnnxAutoComplete.Complete(config, modelPath);

    public IReadOnlyList<string> ReferencedFiles(string modelPath)
    {
        try
        {
            return OnnxExternalData.Locations(File.ReadAllBytes(modelPath));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidOperationException($"{Path.GetFileName(modelPath)} is not a valid ONNX file: {e.Message}", e);
        }
    }

    /// <summary>A GPU instance runs in stages over page-locked staging and its own CUDA stream
    /// (<see cref="OnnxCudaStagedInstance"/>) when the model's inputs and outputs have a fixed size
    /// per row and its pipeline_depth is not 1; otherwise, and on the CPU, it is a plain session
    /// over the pooled request buffers. A GPU instance whose own staging does not fit the pinned
    /// memory pool is a plain session too.</summary>
    public IModelInstance CreateInstance(ModelConfig config, string modelPath, TensorMemoryPool pool, InstanceDevice device, int instanceCount)
    {
        var settings = OnnxRuntimeSettings.From(config, instanceCount);
        if (device.IsGpu && PipelineDepth.For(config, staged: true) > 1 && StagingLayout.For(config, out _) is { } layout)
        {
            try
            {
                return new OnnxCudaStagedInstance(config, layout, modelPath, pool, settings, device);
            }
            catch (TensorPoolExhaustedException)
            {
                // its staging does not fit the pinned memory pool: a plain session instead
            }
        }
        return new OnnxRuntimeInstance(config, modelPath, pool, settings, device);
    }
}
