using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Tensors;

namespace Fabrik.Execution.TorchSharp;

/// <summary>libtorch through TorchSharp: <c>pytorch_libtorch</c> (TorchScript) models. A TorchScript
/// file does not describe its tensors, so the configuration must.</summary>
internal sealed class TorchScriptBackend : IModelBackend
{
    public string Name => "pytorch";

    public IReadOnlyList<string> Platforms { get; } = ["pytorch_libtorch"];

    public string DefaultModelFileName => "model.pt";

    /// <summary>Extra libtorch instances on one host cost more than they give.</summary>
    public int DefaultCpuInstanceCount => 1;

    public string? ConfigProblem(ModelConfig config) => config.Inputs.Length == 0 || config.Outputs.Length == 0
        ? "pytorch_libtorch models need their inputs and outputs in config.pbtxt (named INPUT__0, OUTPUT__0, ... as in Triton)"
        : null;

    /// <summary>TorchScript reaches a GPU through libtorch alone (the build's, or one that
    /// LIBTORCH names), whatever ONNX Runtime's build.</summary>
    public string? NoGpuReason => LibTorchSetup.NoCudaReason;

    public ModelConfig AutoComplete(ModelConfig config, string modelPath) => config;

    public IReadOnlyList<string> ReferencedFiles(string modelPath) => [];

    public IModelInstance CreateInstance(ModelConfig config, string modelPath, TensorMemoryPool pool, InstanceDevice device, int instanceCount) =>
        new TorchScriptInstance(config, modelPath, pool, device);
}
