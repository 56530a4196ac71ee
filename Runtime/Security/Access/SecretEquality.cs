using System.Security.Cryptography;
using System.Text;

namespace Fabrik.Security.Access;

/// <summary>Comparisons of secrets whose time does not depend on where they differ.</summary>
internal static class SecretEquality
{
    /// <summary>Compares the SHA-256 of both strings in constant time (hashing first makes the
    /// time independent of the lengths too).</summary>
    public static bool Equal(string? presented, string expected)
    {
        if (presented is null)
        {
            return false;
        }
        Span<byte> left = stackalloc byte[32];
        Span<byte> right = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(presented), left);
        SHA256.HashData(Encoding.UTF8.GetBytes(expected), right);
        return CryptographicOperations.FixedTimeEquals(left, right);
    }
}
