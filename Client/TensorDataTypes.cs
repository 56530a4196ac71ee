namespace Fabrik.Client;

/// <summary>Wire names, element sizes and the .NET element type of each <see cref="TensorDataType"/>.</summary>
public static class TensorDataTypes
{
    private static readonly string[] WireNames =
        ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64", "BYTES"];

    private static readonly byte[][] Utf8WireNames = [.. WireNames.Select(System.Text.Encoding.UTF8.GetBytes)];

    /// <summary>The name the protocol uses ("FP32", "BYTES", ...).</summary>
    public static string WireName(this TensorDataType type) => WireNames[(int)type];

    /// <summary>Reads a wire name; false for a name the protocol does not define.</summary>
    public static bool TryParse(string? wireName, out TensorDataType type)
    {
        var index = wireName is null ? -1 : Array.IndexOf(WireNames, wireName);
        type = index < 0 ? default : (TensorDataType)index;
        return index >= 0;
    }

    /// <summary>Reads a wire name from its UTF-8 bytes (a JSON value, without making a string of it).</summary>
    internal static bool TryParse(ReadOnlySpan<byte> wireName, out TensorDataType type)
    {
        for (var i = 0; i < Utf8WireNames.Length; i++)
        {
            if (wireName.SequenceEqual(Utf8WireNames[i]))
            {
                type = (TensorDataType)i;
                return true;
            }
        }
        type = default;
        return false;
    }

    /// <summary>Bytes per element; 0 for BYTES, whose elements vary in length.</summary>
    public static int ElementSize(this TensorDataType type) => type switch
    {
        TensorDataType.Bool or TensorDataType.UInt8 or TensorDataType.Int8 => 1,
        TensorDataType.UInt16 or TensorDataType.Int16 or TensorDataType.Fp16 or TensorDataType.Bf16 => 2,
        TensorDataType.UInt32 or TensorDataType.Int32 or TensorDataType.Fp32 => 4,
        TensorDataType.UInt64 or TensorDataType.Int64 or TensorDataType.Fp64 => 8,
        _ => 0,
    };

    /// <summary>The datatype whose elements are <typeparamref name="T"/>; BF16 elements are
    /// <see cref="ushort"/> bits, so <see cref="ushort"/> maps to UINT16 here and BF16 is asked for by name.</summary>
    /// <exception cref="ArgumentException">No datatype holds <typeparamref name="T"/>.</exception>
    public static TensorDataType Of<T>() where T : unmanaged =>
        typeof(T) == typeof(bool) ? TensorDataType.Bool
        : typeof(T) == typeof(byte) ? TensorDataType.UInt8
        : typeof(T) == typeof(ushort) ? TensorDataType.UInt16
        : typeof(T) == typeof(uint) ? TensorDataType.UInt32
        : typeof(T) == typeof(ulong) ? TensorDataType.UInt64
        : typeof(T) == typeof(sbyte) ? TensorDataType.Int8
        : typeof(T) == typeof(short) ? TensorDataType.Int16
        : typeof(T) == typeof(int) ? TensorDataType.Int32
        : typeof(T) == typeof(long) ? TensorDataType.Int64
        : typeof(T) == typeof(Half) ? TensorDataType.Fp16
        : typeof(T) == typeof(float) ? TensorDataType.Fp32
        : typeof(T) == typeof(double) ? TensorDataType.Fp64
        : throw new ArgumentException($"no KServe datatype holds elements of type {typeof(T).Name}");

    /// <summary>Whether elements of <paramref name="type"/> can be read as <typeparamref name="T"/>
    /// (BF16 as <see cref="ushort"/> bits).</summary>
    internal static bool Holds<T>(this TensorDataType type) where T : unmanaged =>
        type == TensorDataType.Bf16 ? typeof(T) == typeof(ushort) : type != TensorDataType.Bytes && Of<T>() == type;
}
