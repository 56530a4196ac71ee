namespace Fabrik.Native.Cuda;

/// <summary>CUipcMemHandle: the 64 opaque bytes that name a device allocation to other processes
/// (what Triton's CUDA shared-memory clients send as <c>raw_handle</c>). Passed by value.</summary>
public unsafe struct IpcMemHandle
{
    /// <summary>The handle's size in bytes.</summary>
    public const int Size = 64;

    private fixed byte _reserved[Size];

    /// <summary>The handle in <paramref name="bytes"/>, which must be <see cref="Size"/> long.</summary>
    public static IpcMemHandle From(ReadOnlySpan<byte> bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(bytes.Length, Size);
        var handle = default(IpcMemHandle);
        bytes.CopyTo(new Span<byte>(handle._reserved, Size));
        return handle;
    }

    /// <summary>The handle's bytes.</summary>
    public readonly byte[] ToArray()
    {
        fixed (byte* bytes = _reserved)
        {
            return new ReadOnlySpan<byte>(bytes, Size).ToArray();
        }
    }
}
