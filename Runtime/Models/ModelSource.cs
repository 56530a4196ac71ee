using System.Globalization;

namespace Fabrik.Models;

/// <summary>A model folder found in a repository: <c>&lt;root&gt;/&lt;name&gt;/config.pbtxt</c> and
/// numbered version folders.</summary>
internal sealed record ModelSource(string Name, string Root, string Directory, IReadOnlyList<long> Versions)
{
    /// <summary>Path of config.pbtxt (which may not exist).</summary>
    public string ConfigPath => Path.Combine(Directory, "config.pbtxt");

    /// <summary>Path of a version folder.</summary>
    public string VersionDirectory(long version) => Path.Combine(Directory, version.ToString(CultureInfo.InvariantCulture));
}
