using Fabrik.Devices;
using Fabrik.Execution.OnnxRuntime;
using Fabrik.Execution.TorchSharp;
using Fabrik.Models.Configuration;
using Fabrik.Tensors;

namespace Fabrik.Execution;

/// <summary>Creates a model's execution instances from its configuration.</summary>
internal static class ModelInstanceFactory
{
    /// <summary>The model file inside a version folder: default_model_filename, or the backend's
    /// default (model.onnx, model.pt).</summary>
    public static string ModelFilePath(ModelConfig config, string versionDirectory)
    {
        var fileName = config.DefaultModelFilename.Length > 0
            ? config.DefaultModelFilename
            : config.BackendKind switch
            {
                BackendKind.OnnxRuntime => "model.onnx",
                BackendKind.TorchScript => "model.pt",
                _ => throw new InvalidOperationException(
                    $"unsupported platform '{config.Platform}' / backend '{config.Backend}': Fabrik runs onnxruntime_onnx and pytorch_libtorch models"),
            };
        if (fileName.Contains('/') || fileName.Contains('\\') || fileName is "." or "..")
        {
            throw new InvalidOperationException($"default_model_filename '{fileName}' must be a file name, not a path");
        }
        var path = Path.Combine(versionDirectory, fileName);
        return File.Exists(path) ? path : throw new FileNotFoundException($"model file {path} does not exist");
    }

    /// <summary>Creates one instance per placement. On failure, instances already created are
    /// disposed before the exception propagates.</summary>
    public static IModelInstance[] CreateInstances(ModelConfig config, string modelPath, TensorMemoryPool pool, IReadOnlyList<InstanceDevice> placements)
    {
        var instances = new List<IModelInstance>(placements.Count);
        try
        {
            foreach (var device in placements)
            {
                instances.Add(config.BackendKind switch
                {
                    BackendKind.OnnxRuntime => new OnnxRuntimeInstance(config, modelPath, pool, OnnxRuntimeSettings.From(config, placements.Count), device),
                    BackendKind.TorchScript => new TorchScriptInstance(config, modelPath, pool, device),
                    _ => throw new InvalidOperationException($"unsupported platform '{config.Platform}'"),
                });
            }
            return [.. instances];
        }
        catch
        {
            foreach (var instance in instances)
            {
                instance.Dispose();
            }
            throw;
        }
    }
}
