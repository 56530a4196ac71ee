namespace Fabrik.Testing;

/// <summary>
/// A model repository in a temporary folder, made from the committed sample models with the
/// configuration changes a test needs (a batching block, an instance group, another name).
/// Deleted on dispose.
/// </summary>
public sealed class TemporaryRepository : IDisposable
{
    public TemporaryRepository()
    {
        Path = Directory.CreateTempSubdirectory("fabrik-repository-").FullName;
    }

    public string Path { get; }

    /// <summary>Copies sample model <paramref name="source"/> as <paramref name="name"/>, replacing
    /// its name in config.pbtxt and appending <paramref name="extraConfig"/>.</summary>
    public TemporaryRepository Add(string source, string? name = null, string extraConfig = "")
    {
        name ??= source;
        var from = System.IO.Path.Combine(RepositoryLayout.Models, source);
        var to = System.IO.Path.Combine(Path, name);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = System.IO.Path.Combine(to, System.IO.Path.GetRelativePath(from, file));
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        var config = System.IO.Path.Combine(to, "config.pbtxt");
        var text = File.ReadAllText(config).Replace($"name: \"{source}\"", $"name: \"{name}\"", StringComparison.Ordinal);
        File.WriteAllText(config, text + "\n" + extraConfig + "\n");
        return this;
    }

    /// <summary>Adds version <paramref name="version"/> of a model as a copy of its version 1.</summary>
    public TemporaryRepository AddVersion(string name, int version)
    {
        var from = System.IO.Path.Combine(Path, name, "1");
        var to = System.IO.Path.Combine(Path, name, version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, System.IO.Path.Combine(to, System.IO.Path.GetFileName(file)));
        }
        return this;
    }

    /// <summary>Adds model <c>endless</c>: an ONNX graph whose run never returns (an endless Loop),
    /// with one CPU instance and <paramref name="extraConfig"/> appended to its config.pbtxt.</summary>
    public TemporaryRepository AddEndless(string extraConfig = "")
    {
        var version = System.IO.Path.Combine(Path, "endless", "1");
        Directory.CreateDirectory(version);
        File.WriteAllBytes(System.IO.Path.Combine(version, "model.onnx"), OnnxModels.EndlessLoop());
        File.WriteAllText(System.IO.Path.Combine(Path, "endless", "config.pbtxt"), $$"""
            platform: "onnxruntime_onnx"
            max_batch_size: 0
            output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 1 ] } ]
            instance_group [ { count: 1 kind: KIND_CPU } ]
            {{extraConfig}}
            """);
        return this;
    }

    /// <summary>Adds ensemble <paramref name="name"/>: <paramref name="config"/> as its config.pbtxt
    /// (after its name and platform) and an empty version folder, as Triton's ensembles have.</summary>
    public TemporaryRepository AddEnsemble(string name, string config)
    {
        Directory.CreateDirectory(System.IO.Path.Combine(Path, name, "1"));
        File.WriteAllText(System.IO.Path.Combine(Path, name, "config.pbtxt"), $"name: \"{name}\"\nplatform: \"ensemble\"\n{config}\n");
        return this;
    }

    /// <summary>Replaces <paramref name="text"/> with <paramref name="replacement"/> in a model's
    /// config.pbtxt (a dimension made variable, for instance); the text must be there.</summary>
    public TemporaryRepository ReplaceInConfig(string name, string text, string replacement)
    {
        var config = System.IO.Path.Combine(Path, name, "config.pbtxt");
        var before = File.ReadAllText(config);
        if (!before.Contains(text, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{text}' is not in {name}'s config.pbtxt", nameof(text));
        }
        File.WriteAllText(config, before.Replace(text, replacement, StringComparison.Ordinal));
        return this;
    }

    /// <summary>Deletes a model's config.pbtxt, leaving auto-complete to fill it in.</summary>
    public TemporaryRepository WithoutConfig(string name)
    {
        File.Delete(System.IO.Path.Combine(Path, name, "config.pbtxt"));
        return this;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
