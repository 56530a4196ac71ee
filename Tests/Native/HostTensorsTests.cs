using System.Runtime.InteropServices;
using Fabrik.Native.LibTorch;
using Xunit;
using static TorchSharp.torch;

namespace Fabrik.Tests.Native;

/// <summary>The TorchScript backend's inputs: libtorch tensors that view pooled host memory.</summary>
public sealed class HostTensorsTests
{
    [Fact]
    public void Wrap_PinnedFloats_GivesATensorThatSharesTheMemory()
    {
        var data = GC.AllocateArray<float>(6, pinned: true);
        float[] values = [1.5f, -2f, 3.25f, 4f, 5f, -6.75f];
        values.CopyTo(data, 0);

        var handle = HostTensors.Wrap(Marshal.UnsafeAddrOfPinnedArrayElement(data, 0), [2, 3], (sbyte)ScalarType.Float32);
        Assert.NotEqual(IntPtr.Zero, handle);
        using var tensor = Tensor.UnsafeCreateTensor(handle);

        Assert.Equal(new long[] { 2, 3 }, tensor.shape);
        Assert.Equal(ScalarType.Float32, tensor.dtype);
        Assert.Equal(values, tensor.data<float>().ToArray());
        data[4] = 42f; // the same memory, not a copy
        Assert.Equal(42f, tensor[1, 1].item<float>());
    }

    [Fact]
    public void Wrap_Int64_KeepsTheElementType()
    {
        var data = GC.AllocateArray<long>(3, pinned: true);
        data[0] = long.MinValue;
        data[1] = 7;
        data[2] = long.MaxValue;

        var handle = HostTensors.Wrap(Marshal.UnsafeAddrOfPinnedArrayElement(data, 0), [3], (sbyte)ScalarType.Int64);
        Assert.NotEqual(IntPtr.Zero, handle);
        using var tensor = Tensor.UnsafeCreateTensor(handle);

        Assert.Equal(ScalarType.Int64, tensor.dtype);
        Assert.Equal(data, tensor.data<long>().ToArray());
    }
}
