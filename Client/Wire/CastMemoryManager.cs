using System.Buffers;
using System.Runtime.InteropServices;

namespace Fabrik.Client.Wire;

/// <summary>
/// The bytes of a <see cref="ReadOnlyMemory{T}"/> of unmanaged elements as a
/// <see cref="Memory{T}"/> of bytes, without copying: a tensor's caller-owned data goes onto the
/// wire (an HTTP body stream, a gRPC ByteString) as it is. One per input tensor, never per element.
/// </summary>
internal sealed unsafe class CastMemoryManager<T>(ReadOnlyMemory<T> source) : MemoryManager<byte>
    where T : unmanaged
{
    public override Span<byte> GetSpan() =>
        MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(source.Span), source.Length));

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        var inner = source.Pin();
        return new MemoryHandle((byte*)inner.Pointer + elementIndex, default, new Release(inner));
    }

    /// <summary>Pins are released through the handle <see cref="Pin"/> returns.</summary>
    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
    }

    /// <summary>Releases the source's own pin when the handle given out is disposed.</summary>
    private sealed class Release(MemoryHandle inner) : IPinnable
    {
        private MemoryHandle _inner = inner;

        public MemoryHandle Pin(int elementIndex) => throw new NotSupportedException();

        public void Unpin() => _inner.Dispose();
    }
}
