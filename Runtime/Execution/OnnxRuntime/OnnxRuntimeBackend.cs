using Fabrik.Configuration;
using Fabrik.Devices;
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

    public IModelInstance CreateInstance(ModelConfig config, string modelPath, TensorMemoryPool pool, InstanceDevice device, int instanceCount) =>
        new OnnxRuntimeInstance(config, modelPath, pool, OnnxRuntimeSettings.From(config, instanceCount), device);
}
