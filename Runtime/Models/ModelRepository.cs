using System.Globalization;
using System.Text;

namespace Fabrik.Models;

/// <summary>
/// Reads the layout of a Triton model repository. Every path it hands out is canonical and
/// confined to its repository root: model names are validated, and symbolic links that lead out
/// of the repository are refused.
/// </summary>
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
            if (!name.StartsWith('.'))
            {
                models.Add(Source(root, name));
            }
        }
        return models;
    }

    /// <summary>Finds model <paramref name="name"/> in the first repository that has it, or null.</summary>
    /// <exception cref="ArgumentException">The name is not a valid model name.</exception>
    public static ModelSource? Find(IReadOnlyList<string> roots, string name)
    {
        if (ValidateName(name) is { } problem)
        {
            throw new ArgumentException(problem);
        }
        foreach (var root in roots)
        {
            if (Directory.Exists(Path.Combine(root, name)))
            {
                return Source(root, name);
            }
        }
        return null;
    }

    /// <summary>Null for a valid model name; otherwise why it is not one. A name is one path
    /// segment: no separators, no "." or "..", no leading dot, no control characters.</summary>
    public static string? ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 255)
        {
            return $"invalid model name '{name}': it must have 1 to 255 characters";
        }
        if (name.Contains('/') || name.Contains('\\') || name.StartsWith('.') || name.Any(char.IsControl) || Path.IsPathRooted(name))
        {
            return $"invalid model name '{name}': a model name is a single folder name, without path separators, leading dots or control characters";
        }
        return null;
    }

    /// <summary>Checks that <paramref name="path"/>, after following symbolic links, lies inside
    /// <paramref name="root"/>; returns the canonical path.</summary>
    /// <exception cref="InvalidOperationException">It leads outside the repository.</exception>
    public static string Confine(string root, string path)
    {
        var rootReal = RealPath(Path.GetFullPath(root));
        var real = RealPath(Path.GetFullPath(path));
        var prefix = rootReal.EndsWith(Path.DirectorySeparatorChar) ? rootReal : rootReal + Path.DirectorySeparatorChar;
        if (!real.StartsWith(prefix, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"'{Path.GetRelativePath(root, path)}' leads outside the model repository");
        }
        return real;
    }

    /// <summary>A fingerprint of everything under a model folder (names, sizes, modification
    /// times), so that poll mode notices changes.</summary>
    public static string Fingerprint(ModelSource source)
    {
        var text = new StringBuilder();
        foreach (var file in Directory.EnumerateFiles(source.Directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var info = new FileInfo(file);
            text.Append(Path.GetRelativePath(source.Directory, file)).Append('|').Append(info.Length).Append('|').Append(info.LastWriteTimeUtc.Ticks).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>True for a version folder name: digits only, no leading zero.</summary>
    public static bool TryParseVersion(string text, out long version)
    {
        version = 0;
        return text.Length > 0 && text[0] != '0' && text.All(char.IsAsciiDigit)
            && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out version);
    }

    private static ModelSource Source(string root, string name)
    {
        var directory = Path.Combine(root, name);
        var versions = new List<long>();
        foreach (var versionDirectory in Directory.EnumerateDirectories(directory))
        {
            if (TryParseVersion(Path.GetFileName(versionDirectory), out var version))
            {
                versions.Add(version);
            }
        }
        versions.Sort();
        return new ModelSource(name, root, directory, versions);
    }

    /// <summary>Follows symbolic links in every component of an absolute path.</summary>
    private static string RealPath(string path)
    {
        var parts = path.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        var current = Path.DirectorySeparatorChar.ToString();
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            var target = info.LinkTarget is null ? null : info.ResolveLinkTarget(returnFinalTarget: true);
            current = target is null ? next : RealPath(target.FullName);
        }
        return current;
    }
}
