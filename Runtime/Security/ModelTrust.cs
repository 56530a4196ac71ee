using System.Security.Cryptography;

namespace Fabrik.Security;

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

    /// <summary>Checks a version folder; returns its verified file hashes, or null when no key is set.</summary>
    /// <exception cref="ModelSignatureException">The version must not load; the message says why.</exception>
    public IReadOnlyDictionary<string, string>? Verify(string versionDirectory) =>
        Enforced ? ModelSignature.Verify(versionDirectory, _keys) : null;
}
