using System.Text;

namespace Fabrik.Tests.Support;

/// <summary>
/// Protobuf messages written and read by hand with Triton's field numbers, so that a test shows
/// the server speaks Triton's wire format and not merely agrees with its own generated code.
/// </summary>
internal static class ProtobufWire
{
    public static void WriteVarint(Stream stream, ulong value)
    {
        while (value >= 0x80)
        {
            stream.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        stream.WriteByte((byte)value);
    }

    /// <summary>A varint field (wire type 0).</summary>
    public static void WriteVarintField(Stream stream, int field, ulong value)
    {
        WriteVarint(stream, (ulong)(field << 3));
        WriteVarint(stream, value);
    }

    public static void WriteBytes(Stream stream, int field, byte[] value)
    {
        WriteVarint(stream, (ulong)(field << 3 | 2));
        WriteVarint(stream, (ulong)value.Length);
        stream.Write(value);
    }

    public static void WriteString(Stream stream, int field, string value) => WriteBytes(stream, field, Encoding.UTF8.GetBytes(value));

    /// <summary>Top-level length-delimited fields of a protobuf message (others are skipped).</summary>
    public static List<(int Number, byte[] Value)> ReadFields(byte[] message) =>
        [.. ReadAll(message).Where(field => field.Bytes is not null).Select(field => (field.Number, field.Bytes!))];

    /// <summary>Top-level varint fields of a protobuf message.</summary>
    public static List<(int Number, ulong Value)> ReadVarints(byte[] message) =>
        [.. ReadAll(message).Where(field => field.Bytes is null).Select(field => (field.Number, field.Varint))];

    /// <summary>Every top-level varint and length-delimited field; fixed-size ones are skipped.</summary>
    private static List<(int Number, byte[]? Bytes, ulong Varint)> ReadAll(byte[] message)
    {
        var fields = new List<(int, byte[]?, ulong)>();
        var position = 0;
        ulong Varint()
        {
            ulong result = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = message[position++];
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return result;
                }
            }
        }
        while (position < message.Length)
        {
            var key = Varint();
            switch (key & 7)
            {
                case 0: fields.Add(((int)(key >> 3), null, Varint())); break;
                case 1: position += 8; break;
                case 5: position += 4; break;
                case 2:
                    var length = (int)Varint();
                    fields.Add(((int)(key >> 3), message[position..(position + length)], 0));
                    position += length;
                    break;
                default: throw new InvalidDataException($"wire type {key & 7}");
            }
        }
        return fields;
    }
}
