using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>
/// A test that drives the <c>openssl</c> command-line client (Debian: <c>apt-get install
/// openssl</c>), for what .NET's TLS client cannot be told to do, such as resuming a saved
/// session. Where it is not on PATH the test is skipped, and the skip message says so.
/// </summary>
public sealed class OpenSslFactAttribute : FactAttribute
{
    /// <summary>The openssl executable on PATH, or null.</summary>
    public static string? OpenSsl { get; } = ExecutablePath.Find("openssl");

    public OpenSslFactAttribute()
    {
        if (OpenSsl is null)
        {
            Skip = "openssl not found on PATH, so TLS session resumption was not tried (apt-get install openssl)";
        }
    }
}
