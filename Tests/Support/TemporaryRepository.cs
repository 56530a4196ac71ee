namespace Fabrik.Tests.Support;

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

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
