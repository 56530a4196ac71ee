using System.Security.Cryptography;
using System.Text.Json;

namespace Fabrik.Security.ModelSigning;

/// <summary>
/// Signed model versions. <c>manifest.json</c> in the version folder lists the SHA-256 of every
/// file in that folder (sub-folders included) and of the model's <c>config.pbtxt</c>;
/// <c>manifest.sig</c> is an ECDSA P-256 signature over the manifest's bytes, SHA-256, DER
/// encoded (so <c>openssl dgst -sha256 -verify public.pem -signature manifest.sig manifest.json</c>
/// checks it too). A version verifies when the signature is by a trusted key and the folder
/// holds exactly the listed files with the listed hashes.
/// </summary>
internal static class ModelSignature
{
    public const string ManifestFile = "manifest.json";
    public const string SignatureFile = "manifest.sig";
    public const string ConfigFile = "config.pbtxt";

    /// <summary>The manifest's name for the model's config.pbtxt.</summary>
    public const string ConfigEntry = "../" + ConfigFile;

    /// <summary>Writes manifest.json and manifest.sig into <paramref name="versionDirectory"/>.</summary>
    /// <returns>The hashes written, by path relative to the version folder.</returns>
    public static IReadOnlyDictionary<string, string> Sign(string versionDirectory, ECDsa key)
    {
        RequireP256(key, "the signing key");
        var hashes = HashFiles(versionDirectory);
        var manifest = WriteManifest(hashes);
        File.WriteAllBytes(Path.Combine(versionDirectory, ManifestFile), manifest);
        File.WriteAllBytes(Path.Combine(versionDirectory, SignatureFile), key.SignData(manifest, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        return hashes;
    }

    /// <summary>Checks the version folder against its signed manifest.</summary>
    /// <returns>The verified hashes, by path relative to the version folder.</returns>
    /// <exception cref="ModelSignatureException">Unsigned, signed by no trusted key, or a file that differs; the message says which.</exception>
    public static IReadOnlyDictionary<string, string> Verify(string versionDirectory, IReadOnlyList<ECDsa> trustedKeys)
    {
        var listed = ReadSignedManifest(versionDirectory, trustedKeys);
        var present = HashFiles(versionDirectory);
        Compare(listed, present);
        return present;
    }

    /// <summary>Reads manifest.json and manifest.sig once and checks the signature.</summary>
    /// <returns>The signed hashes, by path relative to the version folder (config.pbtxt as <c>../config.pbtxt</c>).</returns>
    /// <exception cref="ModelSignatureException">Unsigned, signed by no trusted key, or not a manifest.</exception>
    public static IReadOnlyDictionary<string, string> ReadSignedManifest(string versionDirectory, IReadOnlyList<ECDsa> trustedKeys)
    {
        var manifestPath = Path.Combine(versionDirectory, ManifestFile);
        var signaturePath = Path.Combine(versionDirectory, SignatureFile);
        if (!File.Exists(manifestPath) || !File.Exists(signaturePath))
        {
            throw new ModelSignatureException($"the version is not signed ({ManifestFile} and {SignatureFile} are required by --model-trust-key)");
        }
        var manifest = File.ReadAllBytes(manifestPath);
        var signature = File.ReadAllBytes(signaturePath);
        if (!trustedKeys.Any(key => key.VerifyData(manifest, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)))
        {
            throw new ModelSignatureException($"{SignatureFile} is not a signature of {ManifestFile} by a trusted key");
        }
        return ReadManifest(manifest);
    }

    /// <summary>Checks that <paramref name="present"/> holds exactly the <paramref name="listed"/> files with their hashes.</summary>
    /// <exception cref="ModelSignatureException">The first file that is missing, differs or is not listed.</exception>
    public static void Compare(IReadOnlyDictionary<string, string> listed, IReadOnlyDictionary<string, string> present)
    {
        foreach (var (path, hash) in listed.OrderBy(entry => entry.Key, StringComparer.Ordinal))
        {
            if (!present.TryGetValue(path, out var actual))
            {
                throw new ModelSignatureException($"{path} is listed in the manifest but missing");
            }
            if (!HashEquals(actual, hash))
            {
                throw new ModelSignatureException($"{path} does not match its signed SHA-256");
            }
        }
        var extra = present.Keys.Order(StringComparer.Ordinal).FirstOrDefault(path => !listed.ContainsKey(path));
        if (extra is not null)
        {
            throw new ModelSignatureException($"{extra} is not in the signed manifest");
        }
    }

    /// <summary>Whether two hex SHA-256 strings are equal, compared in constant time.</summary>
    public static bool HashEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Convert.FromHexString(a), Convert.FromHexString(b));

    /// <summary>Reads a PEM key (private for signing, public or private for verifying) and checks it is P-256.</summary>
    /// <exception cref="ArgumentException">Not a PEM EC key on P-256.</exception>
    public static ECDsa ReadKey(string path)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new ArgumentException($"{path} is not a PEM EC key: {e.Message}", e);
        }
        RequireP256(key, path);
        return key;
    }

    private static void RequireP256(ECDsa key, string what)
    {
        if (key.KeySize != 256)
        {
            throw new ArgumentException($"{what} must be an ECDSA P-256 key, got {key.KeySize} bits");
        }
    }

    /// <summary>The SHA-256 of every file under the version folder (except the manifest and
    /// signature) and of ../config.pbtxt when present, by '/'-separated relative path.</summary>
    public static SortedDictionary<string, string> HashFiles(string versionDirectory)
    {
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(versionDirectory, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(versionDirectory, file).Replace(Path.DirectorySeparatorChar, '/');
            if (relative is ManifestFile or SignatureFile)
            {
                continue;
            }
            hashes[relative] = HashFile(file);
        }
        var config = Path.Combine(versionDirectory, "..", ConfigFile);
        if (File.Exists(config))
        {
            hashes[ConfigEntry] = HashFile(config);
        }
        return hashes;
    }

    private static string HashFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static byte[] WriteManifest(IReadOnlyDictionary<string, string> hashes)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("format", "fabrik-model-manifest/1");
            json.WriteString("algorithm", "sha256");
            json.WriteStartObject("files");
            foreach (var (path, hash) in hashes)
            {
                json.WriteString(path, hash);
            }
            json.WriteEndObject();
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    private static Dictionary<string, string> ReadManifest(byte[] manifest)
    {
        try
        {
            using var document = JsonDocument.Parse(manifest);
            var files = document.RootElement.GetProperty("files");
            var listed = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var file in files.EnumerateObject())
            {
                var hash = file.Value.GetString() ?? "";
                if (hash.Length != 64 || !hash.All(Uri.IsHexDigit))
                {
                    throw new ModelSignatureException($"{ManifestFile}: the hash of {file.Name} is not 64 hex digits");
                }
                listed[file.Name] = hash;
            }
            return listed;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new ModelSignatureException($"{ManifestFile} is signed but is not a valid manifest ({e.GetType().Name})");
        }
    }
}
