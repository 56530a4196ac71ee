using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Tensors;

namespace Fabrik.Execution;

/// <summary>Finds a model's file and creates its execution instances through its backend.</summary>
internal static class ModelInstanceFactory
{
    /// <summary>The model file inside a version folder: default_model_filename, or the backend's
    /// default (model.onnx, model.pt).</summary>
    public static string ModelFilePath(ModelConfig config, IModelBackend backend, string versionDirectory)
    {
        var fileName = config.DefaultModelFilename.Length > 0 ? config.DefaultModelFilename : backend.DefaultModelFileName;
        if (fileName.Contains('/') || fileName.Contains('\\') || fileName is "." or "..")
        {
            throw new InvalidOperationException($"default_model_filename '{fileName}' must be a file name, not a path");
        }
        var path = Path.Combine(versionDirectory, fileName);
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"model file {fileName} does not exist in version folder {Path.GetFileName(versionDirectory)}");
    }

    /// <summary>Creates one instance per placement. On failure, instances already created are
    /// disposed before the exception propagates.</summary>
    public static IModelInstance[] CreateInstances(ModelConfig config, IModelBackend backend, string modelPath, TensorMemoryPool pool, IReadOnlyList<InstanceDevice> placements)
    {
        var instances = new List<IModelInstance>(placements.Count);
        try
        {
            foreach (var device in placements)
            {
                instances.Add(backend.CreateInstance(config, modelPath, pool, device, placements.Count));
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
