using Fabrik.Devices;
using Fabrik.Native;
using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>
/// A test that needs a GPU and the CUDA build. Elsewhere it is skipped, and the skip message says
/// why (shown by <c>dotnet test</c>). On a GPU host: <c>dotnet test -p:Accelerator=cuda --filter Category=Gpu</c>.
/// </summary>
public sealed class GpuFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> SkipReason = new(() =>
    {
        var inventory = GpuInventory.Query();
        if (inventory.Devices.Count == 0)
        {
            return $"GPU test skipped: {inventory.Unavailable}";
        }
        return DevicePlacement.BuildHasCuda ? null : "GPU test skipped: this is the CPU build (run with -p:Accelerator=cuda)";
    });

    public GpuFactAttribute()
    {
        if (SkipReason.Value is { } reason)
        {
            Skip = reason;
        }
    }
}
