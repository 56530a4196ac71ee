namespace Fabrik.Client;

/// <summary>The value types a <see cref="ParameterValue"/> can hold, as the protocol defines them.</summary>
public enum ParameterKind
{
    /// <summary>A boolean (gRPC <c>bool_param</c>, JSON true/false).</summary>
    Bool,

    /// <summary>A signed 64-bit integer (gRPC <c>int64_param</c>, a JSON integer).</summary>
    Int64,

    /// <summary>An unsigned 64-bit integer (gRPC <c>uint64_param</c>, a JSON integer above the signed range).</summary>
    UInt64,

    /// <summary>A double (gRPC <c>double_param</c>, a JSON number with a fraction or exponent).</summary>
    Double,

    /// <summary>A string (gRPC <c>string_param</c>, a JSON string).</summary>
    String,
}
