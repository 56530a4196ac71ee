using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Tensors;

namespace Fabrik.Execution;

/// <summary>
/// One execution library (ONNX Runtime, libtorch): everything the model loader needs to know
/// about it. A backend lives in its own folder under Execution/ and is registered with one line
/// in <see cref="BackendRegistry.Default"/>; nothing else in the server names it.
/// </summary>
internal interface IModelBackend
{
    /// <summary>Triton's backend name, as config.pbtxt's <c>backend</c> field gives it
    /// (onnxruntime, pytorch).</summary>
    string Name { get; }

    /// <summary>Triton platform names this backend serves (onnxruntime_onnx, pytorch_libtorch).</summary>
    IReadOnlyList<string> Platforms { get; }

    /// <summary>The model file in a version folder when the configuration names no
    /// default_model_filename (model.onnx, model.pt). Its presence also identifies the backend of
    /// a model whose configuration names neither platform nor backend.</summary>
    string DefaultModelFileName { get; }

    /// <summary>Instances in a CPU instance group that sets no count (Triton's defaults).</summary>
    int DefaultCpuInstanceCount { get; }

    /// <summary>Why <paramref name="config"/> (after auto-complete) cannot load on this backend,
    /// in the user's terms; null when it can.</summary>
    string? ConfigProblem(ModelConfig config);

    /// <summary>Why this build cannot run the backend on a GPU (its native library has no CUDA),
    /// in the operator's terms; null when it can. Placement fails KIND_GPU groups with it and
    /// keeps KIND_AUTO groups on the CPU.</summary>
    string? NoGpuReason { get; }

    /// <summary>Fills in what <paramref name="config"/> leaves out from the model file itself;
    /// returns it unchanged when there is nothing to fill or the backend cannot tell.</summary>
    ModelConfig AutoComplete(ModelConfig config, string modelPath);

    /// <summary>Other files the backend opens when it loads <paramref name="modelPath"/>, as the
    /// model names them (relative to the model's folder), such as ONNX external data. The loader
    /// confines every one of them to the model repository before any instance is created.</summary>
    /// <exception cref="InvalidOperationException">The model file cannot be read as this backend's format.</exception>
    IReadOnlyList<string> ReferencedFiles(string modelPath);

    /// <summary>Creates one instance on <paramref name="device"/>; <paramref name="instanceCount"/>
    /// is how many instances the model gets in all (for dividing threads among them).</summary>
    IModelInstance CreateInstance(ModelConfig config, string modelPath, TensorMemoryPool pool, InstanceDevice device, int instanceCount);
}
