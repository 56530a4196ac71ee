using Fabrik.Tensors;

namespace Fabrik.Configuration;

/// <summary>One <c>control_input</c> of <c>sequence_batching</c>: the model input named
/// <see cref="Name"/> carries <see cref="Kind"/>, one element per batch row, of
/// <see cref="DataType"/>. START, END and READY are written as <see cref="FalseValue"/> or
/// <see cref="TrueValue"/> (from int32_false_true, fp32_false_true or bool_false_true); CORRID
/// carries the id itself (data_type TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 or
/// TYPE_STRING).</summary>
internal sealed record SequenceControlInput(string Name, SequenceControlKind Kind, DataType DataType, double FalseValue, double TrueValue);
