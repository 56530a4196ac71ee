using System.Globalization;

namespace Fabrik.Models;

/// <summary>A model folder found in a repository: <c>&lt;root&gt;/&lt;name&gt;/config.pbtxt</c> and
/// numbered version folders.</summary>
internal sealed record ModelSource(string Name, string Directory, IReadOnlyList<long> Versions)
{
    /// <summary>Path of config.pbtxt (which may not exist).</summary>
    public string ConfigPath => Path.Combine(Directory, "config.pbtxt");

    /// <summary>Path of a version folder.</summary>
    public string VersionDirectory(long version) => Path.Combine(Directory, version.ToString(CultureInfo.InvariantCulture));
}

/// <summary>Reads the layout of a Triton model repository.</summary>
internal static class ModelRepository
{
    /// <summary>Lists the models under <paramref name="root"/>, sorted by name. Hidden folders are
    /// skipped; version folders whose names are not positive integers without a leading zero are
    /// ignored, as Triton ignores them.</summary>
    public static IReadOnlyList<ModelSource> Discover(string root)
    {
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"model repository '{root}' does not exist");
        }
        var models = new List<ModelSource>();
        foreach (var directory in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(directory);
            if (name.StartsWith('.'))
            {
                continue;
            }
            var versions = new List<long>();
            foreach (var versionDirectory in Directory.EnumerateDirectories(directory))
            {
                if (TryParseVersion(Path.GetFileName(versionDirectory), out var version))
                {
                    versions.Add(version);
                }
            }
            versions.Sort();
            models.Add(new ModelSource(name, directory, versions));
        }
        return models;
    }

    /// <summary>True for a version folder name: digits only, no leading zero.</summary>
    public static bool TryParseVersion(string text, out long version)
    {
        version = 0;
        return text.Length > 0 && text[0] != '0' && text.All(char.IsAsciiDigit)
            && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out version);
    }
}
