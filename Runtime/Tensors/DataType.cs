namespace Fabrik.Tensors;

/// <summary>The 14 tensor element types of the KServe v2 protocol.</summary>
internal enum DataType : byte
{
    Invalid = 0,
    Bool,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Int8,
    Int16,
    Int32,
    Int64,
    Fp16,
    Bf16,
    Fp32,
    Fp64,
    Bytes,
}
