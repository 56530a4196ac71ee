using Fabrik.Native;
using Xunit;

namespace Fabrik.Tests.Devices;

/// <summary>GPU numbering when CUDA_VISIBLE_DEVICES hides or reorders GPUs (Slurm, Kubernetes).</summary>
public sealed class CudaOrdinalsTests
{
    private static readonly GpuDevice[] Node =
    [
        .. Enumerable.Range(0, 4).Select(index => new GpuDevice(index, $"GPU-0000000{index}-1111-2222-3333-444444444444", "H100", 80UL << 30, 0, 0)),
    ];

    [Fact]
    public void Renumber_JobGivenGpus3And2_SeesThemAsCudaDevices0And1()
    {
        // CUDA_VISIBLE_DEVICES=3,2: CUDA enumerates NVML's GPU 3 first.
        var visible = CudaOrdinals.Renumber(Node, [Node[3].Uuid, Node[2].Uuid]);

        Assert.Equal([(0, 3), (1, 2)], visible.Select(gpu => (gpu.Index, gpu.NvmlIndex)));
        Assert.Equal([Node[3].Uuid, Node[2].Uuid], visible.Select(gpu => gpu.Uuid));
    }

    [Fact]
    public void Renumber_EveryGpuVisible_KeepsNvmlNumbering()
    {
        var visible = CudaOrdinals.Renumber(Node, [.. Node.Select(gpu => gpu.Uuid.ToUpperInvariant())]);
        Assert.Equal(Enumerable.Range(0, 4).Select(index => (index, index)), visible.Select(gpu => (gpu.Index, gpu.NvmlIndex)));
    }

    [Fact]
    public void Renumber_WithoutCudaOrUnmatchedDevice_KeepsNvmlNumbering()
    {
        Assert.Same(Node, CudaOrdinals.Renumber(Node, null));
        Assert.Same(Node, CudaOrdinals.Renumber(Node, ["GPU-ffffffff-1111-2222-3333-444444444444"]));
    }

    [Fact]
    public void Format_SpellsTheBytesAsNvmlDoes()
    {
        byte[] uuid = [0x8c, 0x2f, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
        Assert.Equal("GPU-8c2f0123-4567-89ab-cdef-001122334455", CudaOrdinals.Format(uuid));
    }
}
