namespace Fabrik.Testing;

/// <summary>Locates the repository checkout the tests run from.</summary>
internal static class RepositoryLayout
{
    /// <summary>The folder that holds Fabrik.slnx.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The committed sample model repository.</summary>
    public static string Models => Path.Combine(Root, "models");

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Fabrik.slnx")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"no Fabrik.slnx above {AppContext.BaseDirectory}");
    }
}
