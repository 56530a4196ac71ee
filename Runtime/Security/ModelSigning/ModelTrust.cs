using System.Security.Cryptography;

namespace Fabrik.Security.ModelSigning;

/// <summary>
/// The keys of --model-trust-key: with any set, a model version loads only when its manifest is
/// signed by one of them and its files match (<see cref="ModelSignature"/>). Immutable after start.
/// </summary>
internal sealed class ModelTrust
{
    private readonly ECDsa[] _keys;

    private ModelTrust(ECDsa[] keys) => _keys = keys;

    /// <summary>No keys: every version loads unchecked.</summary>
    public static ModelTrust None { get; } = new([]);

    public bool Enforced => _keys.Length > 0;

    /// <summary>Reads the public keys.</summary>
    /// <exception cref="InvalidOperationException">A key file is missing or not a P-256 PEM key.</exception>
    public static ModelTrust Load(IReadOnlyList<string> paths)
    {
        try
        {
            return new ModelTrust([.. paths.Select(ModelSignature.ReadKey)]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InvalidOperationException($"--model-trust-key: {e.Message}", e);
        }
    }

    /// <summary>Checks config.pbtxt's bytes before anything parses them: at least one of the
    /// model's versions must carry a manifest, signed by a trusted key, that lists these bytes'
    /// SHA-256 (or lists no config.pbtxt when <paramref name="config"/> is null). Each version
    /// that loads checks the same bytes against its own manifest again.</summary>
    /// <exception cref="ModelSignatureException">No signed manifest vouches for the bytes; the message says why.</exception>
    public void VerifyConfig(IReadOnlyList<string> versionDirectories, byte[]? config)
    {
        var hash = config is null ? null : Convert.ToHexStringLower(SHA256.HashData(config));
        ModelSignatureException? unsigned = null;
        string? mismatch = null;
        // Newest first, so that an unsigned model reports its newest version's reason.
        foreach (var directory in versionDirectories.Reverse())
        {
            IReadOnlyDictionary<string, string> listed;
            try
            {
                listed = ModelSignature.ReadSignedManifest(directory, _keys);
            }
            catch (ModelSignatureException e)
            {
                unsigned ??= new ModelSignatureException($"version {Path.GetFileName(directory)}: {e.Message}");
                continue;
            }
            var signed = listed.GetValueOrDefault(ModelSignature.ConfigEntry);
            if ((signed is null && hash is null) || (signed is not null && hash is not null && ModelSignature.HashEquals(signed, hash)))
            {
                return;
            }
            mismatch ??= signed is null ? $"{ModelSignature.ConfigEntry} is not in the signed manifest"
                : hash is null ? $"{ModelSignature.ConfigEntry} is listed in the manifest but missing"
                : $"{ModelSignature.ConfigEntry} does not match its signed SHA-256";
        }
        throw mismatch is not null || unsigned is null
            ? new ModelSignatureException(mismatch ?? "no version folder holds a signed manifest")
            : unsigned;
    }

    /// <summary>Checks a version folder and copies it, from the bytes hashed, into a private
    /// folder for the backend to load (see <see cref="VerifiedModelCopy"/>).</summary>
    /// <param name="versionDirectory">The version folder in the repository.</param>
    /// <param name="config">The config.pbtxt bytes that were verified and parsed (null: none).</param>
    /// <exception cref="ModelSignatureException">The version must not load; the message says why.</exception>
    public VerifiedModelCopy CopyVerified(string versionDirectory, byte[]? config) =>
        VerifiedModelCopy.Create(versionDirectory, config, _keys);
}
