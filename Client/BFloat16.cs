namespace Fabrik.Client;

/// <summary>Conversions between <see cref="float"/> and bfloat16 bits (the upper 16 bits of an
/// IEEE float32), the element of BF16 tensors.</summary>
public static class BFloat16
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

    /// <summary>Widens bfloat16 bits to the float they stand for, exactly.</summary>
    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
