namespace Fabrik.Testing;

/// <summary>Finds a command-line tool the way a shell would, for tests that run one.</summary>
public static class ExecutablePath
{
    /// <summary>The full path of <paramref name="name"/> in a PATH directory, or null.</summary>
    public static string? Find(string name) => (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(directory => Path.Combine(directory, name))
        .FirstOrDefault(File.Exists);
}
