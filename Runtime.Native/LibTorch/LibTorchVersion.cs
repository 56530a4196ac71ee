using System.Text.RegularExpressions;

namespace Fabrik.Native.LibTorch;

/// <summary>Reads a libtorch folder's version from the files each kind of distribution ships:
/// a libtorch archive's <c>build-version</c> (beside <c>lib/</c> or in it), PyTorch's
/// <c>torch/version.py</c> (beside <c>torch/lib</c>), or a NuGet package's <c>.nuspec</c> (three
/// levels above <c>runtimes/&lt;rid&gt;/native</c>).</summary>
public static partial class LibTorchVersion
{
    /// <summary>The version of the libtorch in <paramref name="folder"/>, or null when no file says.</summary>
    public static string? Read(string folder)
    {
        var parent = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(folder));
        foreach (var candidate in new[] { Path.Combine(folder, "build-version"), parent is null ? null : Path.Combine(parent, "build-version") })
        {
            if (candidate is not null && ReadSmall(candidate) is { } text && Leading().Match(text) is { Success: true } match)
            {
                return match.Value.Trim();
            }
        }
        if (parent is not null && ReadSmall(Path.Combine(parent, "version.py")) is { } python
            && PythonVersion().Match(python) is { Success: true } assignment)
        {
            return assignment.Groups[1].Value;
        }
        var packageRoot = Path.GetFullPath(Path.Combine(folder, "..", "..", ".."));
        if (Directory.Exists(packageRoot))
        {
            foreach (var nuspec in Directory.EnumerateFiles(packageRoot, "*.nuspec"))
            {
                if (ReadSmall(nuspec) is { } manifest && NuspecVersion().Match(manifest) is { Success: true } version)
                {
                    return version.Groups[1].Value;
                }
            }
        }
        return null;
    }

    /// <summary>"2.10" of "2.10.0+cpu".</summary>
    public static string? MajorMinor(string version) =>
        MajorMinorPattern().Match(version) is { Success: true } match ? match.Value : null;

    // Version files are a few bytes; anything much larger is not one.
    private static string? ReadSmall(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.Exists && info.Length < 64 * 1024 ? File.ReadAllText(path) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^\s*\d+\.\d+(\.\d+)?[^\s]*")]
    private static partial Regex Leading();

    [GeneratedRegex(@"__version__\s*=\s*['""]([^'""]+)['""]")]
    private static partial Regex PythonVersion();

    [GeneratedRegex(@"<version>\s*([^<\s]+)\s*</version>")]
    private static partial Regex NuspecVersion();

    [GeneratedRegex(@"^\d+\.\d+")]
    private static partial Regex MajorMinorPattern();
}
