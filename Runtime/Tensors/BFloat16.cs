namespace Fabrik.Tensors;

/// <summary>Conversions between float and bfloat16 (the upper 16 bits of an IEEE float32).</summary>
internal static class BFloat16
{
    /// <summary>Rounds to the nearest bfloat16, ties to even; NaN stays NaN.</summary>
    public static ushort FromSingle(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x0040);
        }
        bits += 0x7FFF + ((bits >> 16) & 1);
        return (ushort)(bits >> 16);
    }

    /// <summary>Widens a bfloat16 to float exactly.</summary>
    public static float ToSingle(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);
}
