using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;
using Fabrik.Tensors;

namespace Fabrik.Protocol.Http;

/// <summary>
/// The bare literals <c>NaN</c>, <c>Infinity</c> and <c>-Infinity</c> (and rapidjson's shorter
/// <c>Inf</c>, <c>-Inf</c>), which Triton reads and writes in JSON tensor data and which the Triton
/// Python client sends for non-finite FP16/BF16/FP32/FP64 values. Strict JSON has no such tokens,
/// so <see cref="Utf8JsonReader"/> stops at them: a body that fails to parse and holds one is
/// rewritten once with each literal quoted, and the tensor decoder reads the quoted form back as
/// the non-finite value.
/// </summary>
internal static class NonFiniteJsonLiterals
{
    /// <summary>A rewritten request body in an array rented from <see cref="ArrayPool{T}.Shared"/>;
    /// the owner disposes it once decoding is done (decoding copies everything it keeps).</summary>
    public sealed class Rewritten(byte[] array, int jsonLength, int length) : IDisposable
    {
        private byte[]? _array = array;

        /// <summary>The whole body: the rewritten JSON, then the binary section unchanged.</summary>
        public ReadOnlySequence<byte> Body => new(_array ?? throw new ObjectDisposedException(nameof(Rewritten)), 0, length);

        /// <summary>Bytes of JSON at the start of <see cref="Body"/>.</summary>
        public int JsonLength { get; } = jsonLength;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _array, null) is { } rented)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Quotes every bare non-finite literal outside strings in <paramref name="json"/> and
    /// appends <paramref name="rest"/> (binary tensor data) unchanged. Null when the JSON holds
    /// none, so the caller reports its original parse error.</summary>
    public static Rewritten? TryQuote(ReadOnlySequence<byte> json, ReadOnlySequence<byte> rest)
    {
        if (json.Length + rest.Length > Array.MaxLength / 2)
        {
            return null;
        }
        byte[]? copy = null;
        ReadOnlySpan<byte> text;
        if (json.IsSingleSegment)
        {
            text = json.FirstSpan;
        }
        else
        {
            copy = ArrayPool<byte>.Shared.Rent((int)json.Length);
            json.CopyTo(copy);
            text = copy.AsSpan(0, (int)json.Length);
        }
        try
        {
            var found = Scan(text, default);
            if (found == 0)
            {
                return null;
            }
            var jsonLength = text.Length + (2 * found);
            var length = jsonLength + (int)rest.Length;
            var array = ArrayPool<byte>.Shared.Rent(length);
            Scan(text, array);
            rest.CopyTo(array.AsSpan(jsonLength));
            return new Rewritten(array, jsonLength, length);
        }
        finally
        {
            if (copy is not null)
            {
                ArrayPool<byte>.Shared.Return(copy);
            }
        }
    }

    /// <summary>Reads a quoted literal at the reader's String token as <paramref name="type"/>
    /// into element <paramref name="index"/>; false when the string is not one of them or the type
    /// is not floating-point.</summary>
    public static bool TryWrite(ref Utf8JsonReader reader, DataType type, Span<byte> bytes, long index)
    {
        if (reader.HasValueSequence || reader.ValueIsEscaped)
        {
            return false;
        }
        var text = reader.ValueSpan;
        double value;
        if (text.SequenceEqual("NaN"u8))
        {
            value = double.NaN;
        }
        else if (text.SequenceEqual("Infinity"u8) || text.SequenceEqual("Inf"u8))
        {
            value = double.PositiveInfinity;
        }
        else if (text.SequenceEqual("-Infinity"u8) || text.SequenceEqual("-Inf"u8))
        {
            value = double.NegativeInfinity;
        }
        else
        {
            return false;
        }
        var i = (int)index;
        switch (type)
        {
            case DataType.Fp64: MemoryMarshal.Cast<byte, double>(bytes)[i] = value; return true;
            case DataType.Fp32: MemoryMarshal.Cast<byte, float>(bytes)[i] = (float)value; return true;
            case DataType.Fp16: MemoryMarshal.Cast<byte, Half>(bytes)[i] = (Half)value; return true;
            case DataType.Bf16: MemoryMarshal.Cast<byte, ushort>(bytes)[i] = BFloat16.FromSingle((float)value); return true;
            default: return false;
        }
    }

    /// <summary>Counts the bare literals in <paramref name="text"/>; when
    /// <paramref name="destination"/> is not empty, also writes the text with each one quoted.</summary>
    private static int Scan(ReadOnlySpan<byte> text, Span<byte> destination)
    {
        var found = 0;
        var written = 0;
        var inString = false;
        for (var i = 0; i < text.Length;)
        {
            var c = text[i];
            var literal = 0;
            if (inString)
            {
                if (c == '\\' && i + 1 < text.Length)
                {
                    Copy(text.Slice(i, 2), destination, ref written);
                    i += 2;
                    continue;
                }
                inString = c != '"';
            }
            else if (c == '"')
            {
                inString = true;
            }
            else
            {
                literal = LiteralLength(text[i..]);
            }
            if (literal == 0)
            {
                Copy(text.Slice(i, 1), destination, ref written);
                i++;
                continue;
            }
            found++;
            Copy("\""u8, destination, ref written);
            Copy(text.Slice(i, literal), destination, ref written);
            Copy("\""u8, destination, ref written);
            i += literal;
        }
        return found;
    }

    /// <summary>The length of the non-finite literal that starts <paramref name="text"/> and ends
    /// at a token boundary, or 0.</summary>
    private static int LiteralLength(ReadOnlySpan<byte> text)
    {
        var sign = text.Length > 0 && text[0] == '-' ? 1 : 0;
        var rest = text[sign..];
        var length = sign == 0 && rest.StartsWith("NaN"u8) ? 3
            : rest.StartsWith("Infinity"u8) ? 8
            : rest.StartsWith("Inf"u8) ? 3
            : 0;
        if (length == 0)
        {
            return 0;
        }
        var end = sign + length;
        return end == text.Length || !char.IsAsciiLetterOrDigit((char)text[end]) ? end : 0;
    }

    private static void Copy(ReadOnlySpan<byte> source, Span<byte> destination, ref int written)
    {
        if (!destination.IsEmpty)
        {
            source.CopyTo(destination[written..]);
        }
        written += source.Length;
    }
}
