using System.Buffers.Binary;

namespace Fabrik.Client.Wire;

/// <summary>Sizes of tensors on the wire, computed with overflow checks, and the layout of BYTES
/// tensors (each element a 4-byte little-endian length, then its bytes).</summary>
internal static class TensorLayout
{
    /// <summary>The element count of <paramref name="shape"/>; false for a negative dimension or
    /// a count past <see cref="int.MaxValue"/> (no single buffer holds more).</summary>
    public static bool TryElementCount(ReadOnlySpan<long> shape, out long count)
    {
        count = 1;
        foreach (var dim in shape)
        {
            if (dim < 0 || (dim > 0 && count > int.MaxValue / dim))
            {
                count = 0;
                return false;
            }
            count *= dim;
        }
        return true;
    }

    /// <summary>The byte length of <paramref name="count"/> elements of <paramref name="elementSize"/>
    /// bytes each; false when that overflows <see cref="int.MaxValue"/>.</summary>
    public static bool TryByteLength(long count, int elementSize, out int length)
    {
        var bytes = count * elementSize;
        length = bytes <= int.MaxValue ? (int)bytes : 0;
        return bytes <= int.MaxValue;
    }

    /// <summary>Counts the elements of a BYTES tensor; null when a length prefix is cut short or
    /// points past the end.</summary>
    public static long? CountBytesElements(ReadOnlySpan<byte> data)
    {
        long count = 0;
        while (data.Length > 0)
        {
            if (data.Length < 4)
            {
                return null;
            }
            var length = BinaryPrimitives.ReadUInt32LittleEndian(data);
            if (length > (uint)(data.Length - 4))
            {
                return null;
            }
            data = data[(4 + (int)length)..];
            count++;
        }
        return count;
    }

    /// <summary>Writes one BYTES element (prefix and bytes) at the start of <paramref name="destination"/>;
    /// returns the bytes written.</summary>
    public static int WriteBytesElement(ReadOnlySpan<byte> element, Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)element.Length);
        element.CopyTo(destination[4..]);
        return 4 + element.Length;
    }
}
