using Fabrik.Devices;
using Fabrik.Native;
using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>
/// A test that needs a GPU and the CUDA build. Elsewhere it is skipped, and the skip message says
/// why (shown by <c>dotnet test</c>). On a GPU host: <c>dotnet test -p:Accelerator=cuda --filter Category=Gpu</c>,
/// or the self-contained test publish <c>Fabrik.Tests --category Gpu</c> (Benchmarks/gpu-check.sh).
/// </summary>
public sealed class GpuFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> GpuSkipReason = new(() =>
    {
        var inventory = GpuInventory.Query();
        if (inventory.Devices.Count == 0)
        {
            return $"GPU test skipped: {inventory.Unavailable}";
        }
        return DevicePlacement.BuildHasCuda ? null : "GPU test skipped: this is the CPU build (run with -p:Accelerator=cuda)";
    });

    /// <summary>The test runs TorchScript on a GPU: it also needs libtorch with CUDA
    /// (-p:TorchSharpCuda=true).</summary>
    public bool NeedsLibTorchCuda { get; set; }

    /// <summary>The test is about the GPU build whose libtorch is the CPU one (the default cuda build).</summary>
    public bool NeedsCpuLibTorch { get; set; }

    public override string? Skip
    {
        get => base.Skip ?? GpuSkipReason.Value ?? (NeedsLibTorchCuda && !DevicePlacement.LibTorchHasCuda
            ? "GPU test skipped: this build's libtorch is the CPU one (add -p:TorchSharpCuda=true)"
            : NeedsCpuLibTorch && DevicePlacement.LibTorchHasCuda ? "GPU test skipped: this build's libtorch has CUDA" : null);
        set => base.Skip = value;
    }
}
