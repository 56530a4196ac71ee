namespace Fabrik.Tensors;

/// <summary>Names and sizes of <see cref="DataType"/> on the wire (v2 "INT32") and in
/// config.pbtxt ("TYPE_INT32").</summary>
internal static class DataTypes
{
    private static readonly string[] WireNames =
        ["INVALID", "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64", "BYTES"];

    // UTF-8 copies so that the JSON reader compares names without allocating strings.
    private static readonly byte[][] WireNamesUtf8 = Array.ConvertAll(WireNames, System.Text.Encoding.UTF8.GetBytes);

    /// <summary>The v2 protocol name, for example "FP32".</summary>
    public static string WireName(this DataType type) => WireNames[(int)type];

    /// <summary>The v2 protocol name as UTF-8 bytes.</summary>
    public static ReadOnlySpan<byte> WireNameUtf8(this DataType type) => WireNamesUtf8[(int)type];

    /// <summary>Parses a v2 protocol name; <see cref="DataType.Invalid"/> when unknown.</summary>
    public static DataType FromWireName(ReadOnlySpan<byte> utf8Name)
    {
        for (var i = 1; i < WireNamesUtf8.Length; i++)
        {
            if (utf8Name.SequenceEqual(WireNamesUtf8[i]))
            {
                return (DataType)i;
            }
        }
        return DataType.Invalid;
    }

    /// <inheritdoc cref="FromWireName(ReadOnlySpan{byte})"/>
    public static DataType FromWireName(string name)
    {
        var index = Array.IndexOf(WireNames, name);
        return index > 0 ? (DataType)index : DataType.Invalid;
    }

    /// <summary>Parses a model configuration name such as TYPE_FP32 (TYPE_STRING is BYTES).</summary>
    public static DataType FromConfigName(string name) => name switch
    {
        "TYPE_BOOL" => DataType.Bool,
        "TYPE_UINT8" => DataType.UInt8,
        "TYPE_UINT16" => DataType.UInt16,
        "TYPE_UINT32" => DataType.UInt32,
        "TYPE_UINT64" => DataType.UInt64,
        "TYPE_INT8" => DataType.Int8,
        "TYPE_INT16" => DataType.Int16,
        "TYPE_INT32" => DataType.Int32,
        "TYPE_INT64" => DataType.Int64,
        "TYPE_FP16" => DataType.Fp16,
        "TYPE_BF16" => DataType.Bf16,
        "TYPE_FP32" => DataType.Fp32,
        "TYPE_FP64" => DataType.Fp64,
        "TYPE_STRING" => DataType.Bytes,
        _ => DataType.Invalid,
    };

    /// <summary>The model configuration name, for example TYPE_FP32.</summary>
    public static string ConfigName(this DataType type) =>
        type == DataType.Bytes ? "TYPE_STRING" : "TYPE_" + type.WireName();

    /// <summary>Bytes per element; 0 for BYTES, whose elements vary in length.</summary>
    public static int ElementSize(this DataType type) => type switch
    {
        DataType.Bool or DataType.UInt8 or DataType.Int8 => 1,
        DataType.UInt16 or DataType.Int16 or DataType.Fp16 or DataType.Bf16 => 2,
        DataType.UInt32 or DataType.Int32 or DataType.Fp32 => 4,
        DataType.UInt64 or DataType.Int64 or DataType.Fp64 => 8,
        _ => 0,
    };
}
