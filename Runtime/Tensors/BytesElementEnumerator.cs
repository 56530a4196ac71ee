using System.Buffers.Binary;

namespace Fabrik.Tensors;

/// <summary>Enumerates length-prefixed BYTES elements. The layout was validated when the buffer
/// was filled, so this trusts it.</summary>
internal ref struct BytesElementEnumerator
{
    private ReadOnlySpan<byte> _remaining;

    public BytesElementEnumerator(ReadOnlySpan<byte> data)
    {
        _remaining = data;
        Current = default;
    }

    public ReadOnlySpan<byte> Current { get; private set; }

    public readonly BytesElementEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_remaining.Length < 4)
        {
            return false;
        }
        var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(_remaining);
        Current = _remaining.Slice(4, length);
        _remaining = _remaining[(4 + length)..];
        return true;
    }
}
