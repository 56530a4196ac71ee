using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>
/// A test that runs <c>kubectl</c> (Debian: <c>apt-get install kubectl</c>). Where it is not on
/// PATH the test is skipped, and the skip message says so.
/// </summary>
public sealed class KubectlFactAttribute : FactAttribute
{
    /// <summary>The kubectl executable on PATH, or null.</summary>
    public static string? Kubectl { get; } = ExecutablePath.Find("kubectl");

    public KubectlFactAttribute()
    {
        if (Kubectl is null)
        {
            Skip = "kubectl not found on PATH, so the kustomizations were not rendered (apt-get install kubectl)";
        }
    }
}
