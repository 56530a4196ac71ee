namespace Fabrik.Client;

/// <summary>The 14 KServe v2 tensor datatypes. <see cref="TensorDataTypes"/> gives their wire
/// names and element sizes.</summary>
public enum TensorDataType
{
    /// <summary>BOOL: one byte per element, 0 or 1 (<see cref="bool"/>).</summary>
    Bool,

    /// <summary>UINT8 (<see cref="byte"/>).</summary>
    UInt8,

    /// <summary>UINT16 (<see cref="ushort"/>).</summary>
    UInt16,

    /// <summary>UINT32 (<see cref="uint"/>).</summary>
    UInt32,

    /// <summary>UINT64 (<see cref="ulong"/>).</summary>
    UInt64,

    /// <summary>INT8 (<see cref="sbyte"/>).</summary>
    Int8,

    /// <summary>INT16 (<see cref="short"/>).</summary>
    Int16,

    /// <summary>INT32 (<see cref="int"/>).</summary>
    Int32,

    /// <summary>INT64 (<see cref="long"/>).</summary>
    Int64,

    /// <summary>FP16 (<see cref="Half"/>).</summary>
    Fp16,

    /// <summary>BF16: the upper 16 bits of an IEEE float32, held as <see cref="ushort"/> (see <see cref="BFloat16"/>).</summary>
    Bf16,

    /// <summary>FP32 (<see cref="float"/>).</summary>
    Fp32,

    /// <summary>FP64 (<see cref="double"/>).</summary>
    Fp64,

    /// <summary>BYTES: each element a byte string (UTF-8 text or raw bytes); on the wire each is
    /// preceded by its length as a 4-byte little-endian integer.</summary>
    Bytes,
}
