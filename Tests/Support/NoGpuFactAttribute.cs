using Fabrik.Native;
using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>A test of what the server answers on a host without a GPU; skipped, saying so, where
/// there is one (the GPU tests cover that host).</summary>
public sealed class NoGpuFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> GpuPresent = new(() =>
        GpuInventory.Query().Devices.Count > 0 ? "skipped: this host has a GPU, and the test is about a host without one" : null);

    public override string? Skip
    {
        get => base.Skip ?? GpuPresent.Value;
        set => base.Skip = value;
    }
}
