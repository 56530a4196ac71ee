using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Fabrik.Testing;

/// <summary>
/// The binary tensor layout (little-endian, row-major, BYTES with 4-byte length prefixes), written
/// here independently of the server's codecs so that a symmetric bug cannot pass.
/// </summary>
public static class BinaryTensors
{
    /// <summary>Packs the flattened JSON data of a v2 tensor of <paramref name="datatype"/>.</summary>
    public static byte[] Pack(string datatype, JsonNode data)
    {
        var values = JsonTensors.Flatten(data);
        using var stream = new MemoryStream();
        Span<byte> scratch = stackalloc byte[8];
        foreach (var value in values)
        {
            var text = value.ToJsonString();
            switch (datatype)
            {
                case "BOOL": stream.WriteByte(value.GetValue<bool>() ? (byte)1 : (byte)0); break;
                case "UINT8": stream.WriteByte(byte.Parse(text, CultureInfo.InvariantCulture)); break;
                case "INT8": stream.WriteByte((byte)sbyte.Parse(text, CultureInfo.InvariantCulture)); break;
                case "UINT16": BinaryPrimitives.WriteUInt16LittleEndian(scratch, ushort.Parse(text, CultureInfo.InvariantCulture)); stream.Write(scratch[..2]); break;
                case "INT16": BinaryPrimitives.WriteInt16LittleEndian(scratch, short.Parse(text, CultureInfo.InvariantCulture)); stream.Write(scratch[..2]); break;
                case "UINT32": BinaryPrimitives.WriteUInt32LittleEndian(scratch, uint.Parse(text, CultureInfo.InvariantCulture)); stream.Write(scratch[..4]); break;
                case "INT32": BinaryPrimitives.WriteInt32LittleEndian(scratch, int.Parse(text, CultureInfo.InvariantCulture)); stream.Write(scratch[..4]); break;
                case "UINT64": BinaryPrimitives.WriteUInt64LittleEndian(scratch, ulong.Parse(text, CultureInfo.InvariantCulture)); stream.Write(scratch); break;
                case "INT64": BinaryPrimitives.WriteInt64LittleEndian(scratch, long.Parse(text, CultureInfo.InvariantCulture)); stream.Write(scratch); break;
                case "FP16": BinaryPrimitives.WriteHalfLittleEndian(scratch, (Half)double.Parse(text, CultureInfo.InvariantCulture)); stream.Write(scratch[..2]); break;
                case "BF16":
                    // The sample values are exact in bfloat16: its bits are the float's upper half.
                    var bits = BitConverter.SingleToUInt32Bits(float.Parse(text, CultureInfo.InvariantCulture));
                    BinaryPrimitives.WriteUInt16LittleEndian(scratch, (ushort)(bits >> 16));
                    stream.Write(scratch[..2]);
                    break;
                case "FP32": BinaryPrimitives.WriteSingleLittleEndian(scratch, float.Parse(text, CultureInfo.InvariantCulture)); stream.Write(scratch[..4]); break;
                case "FP64": BinaryPrimitives.WriteDoubleLittleEndian(scratch, double.Parse(text, CultureInfo.InvariantCulture)); stream.Write(scratch); break;
                case "BYTES":
                    var utf8 = Encoding.UTF8.GetBytes(value.GetValue<string>());
                    BinaryPrimitives.WriteInt32LittleEndian(scratch, utf8.Length);
                    stream.Write(scratch[..4]);
                    stream.Write(utf8);
                    break;
                default: throw new ArgumentException($"unknown datatype {datatype}");
            }
        }
        return stream.ToArray();
    }

    /// <summary>Reads little-endian float32 values.</summary>
    public static float[] Floats(ReadOnlySpan<byte> bytes)
    {
        var values = new float[bytes.Length / 4];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
        }
        return values;
    }

    /// <summary>A binary-extension request body: the JSON header followed by the binary parts.</summary>
    public static (byte[] Body, int HeaderLength) Body(JsonObject header, params byte[][] parts)
    {
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        return ([.. json, .. parts.SelectMany(part => part)], json.Length);
    }
}
