using System.Security.Cryptography;

namespace Fabrik.Security.ModelSigning;

/// <summary>
/// A private copy of a signed version folder, made from the very bytes that were hashed: each
/// file is read once, written into a folder only the server's user can open (mode 0700, a fresh
/// random name under <c>$TMPDIR</c>) and hashed on the way, and the copy is kept only when every
/// hash matches the signed manifest. The backend then loads the copy, so a file swapped in the
/// repository after the check is never what gets loaded. The loader owns the copy and disposes it
/// (deleting the folder) once the backend has read the files; ONNX Runtime and libtorch keep what
/// they need in memory, or a mapping that outlives the deleted file.
/// </summary>
internal sealed class VerifiedModelCopy : IDisposable
{
    private readonly string _root;

    private VerifiedModelCopy(string root, string directory, IReadOnlyDictionary<string, string> hashes)
    {
        _root = root;
        Directory = directory;
        Hashes = hashes;
    }

    /// <summary>The copied version folder (same name as the original), for the backend to load.</summary>
    public string Directory { get; }

    /// <summary>The verified SHA-256 of every copied file and of config.pbtxt, by manifest path.</summary>
    public IReadOnlyDictionary<string, string> Hashes { get; }

    /// <summary>Checks the manifest's signature, copies the version folder while hashing it, and
    /// compares the copy and <paramref name="config"/> (the config.pbtxt bytes the loader read and
    /// will parse; null when there is none) with the manifest.</summary>
    /// <exception cref="ModelSignatureException">The version must not load; the message says why (paths relative to the version folder).</exception>
    public static VerifiedModelCopy Create(string versionDirectory, byte[]? config, IReadOnlyList<ECDsa> trustedKeys)
    {
        var listed = ModelSignature.ReadSignedManifest(versionDirectory, trustedKeys);
        var root = System.IO.Directory.CreateTempSubdirectory("fabrik-model-").FullName;
        var copy = Path.Combine(root, Path.GetFileName(Path.TrimEndingDirectorySeparator(versionDirectory)));
        try
        {
            var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
            CopyFolder(versionDirectory, copy, "", hashes);
            if (config is not null)
            {
                hashes[ModelSignature.ConfigEntry] = Convert.ToHexStringLower(SHA256.HashData(config));
            }
            ModelSignature.Compare(listed, hashes);
            return new VerifiedModelCopy(root, copy, hashes);
        }
        catch
        {
            Delete(root);
            throw;
        }
    }

    /// <summary>Copies <paramref name="from"/> into <paramref name="to"/> (created 0700), hashing
    /// each file from the bytes written. Links are refused: a signed folder holds plain files.</summary>
    private static void CopyFolder(string from, string to, string relative, SortedDictionary<string, string> hashes)
    {
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(to);
        }
        else
        {
            System.IO.Directory.CreateDirectory(to, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        foreach (var entry in new DirectoryInfo(from).EnumerateFileSystemInfos().OrderBy(entry => entry.Name, StringComparer.Ordinal))
        {
            var name = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
            if (relative.Length == 0 && entry.Name is ModelSignature.ManifestFile or ModelSignature.SignatureFile)
            {
                continue;
            }
            if (entry.LinkTarget is not null)
            {
                throw new ModelSignatureException($"{name} is a symbolic link; a signed version holds plain files only");
            }
            if (entry is DirectoryInfo)
            {
                CopyFolder(entry.FullName, Path.Combine(to, entry.Name), name, hashes);
            }
            else
            {
                hashes[name] = CopyFile(entry.FullName, Path.Combine(to, entry.Name));
            }
        }
    }

    private static string CopyFile(string from, string to)
    {
        using var source = new FileStream(from, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using var target = new FileStream(to, options);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        int read;
        while ((read = source.Read(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            target.Write(buffer, 0, read);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Deletes the copy.</summary>
    public void Dispose() => Delete(_root);

    private static void Delete(string root)
    {
        try
        {
            System.IO.Directory.Delete(root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the temporary folder's cleaner; it holds only verified model files.
        }
    }
}
