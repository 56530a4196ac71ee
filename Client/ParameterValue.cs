using System.Globalization;

namespace Fabrik.Client;

/// <summary>
/// The value of a request, tensor or response parameter: a boolean, a signed or unsigned 64-bit
/// integer, a double or a string, as the protocol allows. Converts implicitly from each, so
/// <c>request.Parameters["max_tokens"] = 64</c> works.
/// </summary>
public readonly struct ParameterValue : IEquatable<ParameterValue>
{
    private readonly long _bits;
    private readonly string? _text;

    private ParameterValue(ParameterKind kind, long bits, string? text)
    {
        Kind = kind;
        _bits = bits;
        _text = text;
    }

    /// <summary>Which of the protocol's value types this holds.</summary>
    public ParameterKind Kind { get; }

    /// <summary>The boolean; throws unless <see cref="Kind"/> is <see cref="ParameterKind.Bool"/>.</summary>
    public bool AsBool() => Kind == ParameterKind.Bool ? _bits != 0 : throw WrongKind(ParameterKind.Bool);

    /// <summary>The signed integer; an unsigned one that fits is converted.</summary>
    public long AsInt64() => Kind switch
    {
        ParameterKind.Int64 => _bits,
        ParameterKind.UInt64 when _bits >= 0 => _bits,
        _ => throw WrongKind(ParameterKind.Int64),
    };

    /// <summary>The unsigned integer; a non-negative signed one is converted.</summary>
    public ulong AsUInt64() => Kind switch
    {
        ParameterKind.UInt64 => unchecked((ulong)_bits),
        ParameterKind.Int64 when _bits >= 0 => (ulong)_bits,
        _ => throw WrongKind(ParameterKind.UInt64),
    };

    /// <summary>The double; an integer is converted.</summary>
    public double AsDouble() => Kind switch
    {
        ParameterKind.Double => BitConverter.Int64BitsToDouble(_bits),
        ParameterKind.Int64 => _bits,
        ParameterKind.UInt64 => unchecked((ulong)_bits),
        _ => throw WrongKind(ParameterKind.Double),
    };

    /// <summary>The string; throws unless <see cref="Kind"/> is <see cref="ParameterKind.String"/>.</summary>
    public string AsString() => Kind == ParameterKind.String ? _text! : throw WrongKind(ParameterKind.String);

#pragma warning disable CA2225 // The As... methods are the named alternates.
    /// <summary>A boolean parameter.</summary>
    public static implicit operator ParameterValue(bool value) => new(ParameterKind.Bool, value ? 1 : 0, null);

    /// <summary>A signed integer parameter.</summary>
    public static implicit operator ParameterValue(int value) => new(ParameterKind.Int64, value, null);

    /// <summary>A signed integer parameter.</summary>
    public static implicit operator ParameterValue(long value) => new(ParameterKind.Int64, value, null);

    /// <summary>An unsigned integer parameter.</summary>
    public static implicit operator ParameterValue(ulong value) => new(ParameterKind.UInt64, unchecked((long)value), null);

    /// <summary>A floating-point parameter.</summary>
    public static implicit operator ParameterValue(double value) => new(ParameterKind.Double, BitConverter.DoubleToInt64Bits(value), null);

    /// <summary>A string parameter.</summary>
    public static implicit operator ParameterValue(string value) => new(ParameterKind.String, 0, value ?? throw new ArgumentNullException(nameof(value)));
#pragma warning restore CA2225

    /// <inheritdoc/>
    public bool Equals(ParameterValue other) => Kind == other.Kind && _bits == other._bits && string.Equals(_text, other._text, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is ParameterValue other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Kind, _bits, _text);

    /// <summary>Equal when of the same kind and value.</summary>
    public static bool operator ==(ParameterValue left, ParameterValue right) => left.Equals(right);

    /// <summary>Unequal when of another kind or value.</summary>
    public static bool operator !=(ParameterValue left, ParameterValue right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        ParameterKind.Bool => AsBool() ? "true" : "false",
        ParameterKind.Int64 => _bits.ToString(CultureInfo.InvariantCulture),
        ParameterKind.UInt64 => AsUInt64().ToString(CultureInfo.InvariantCulture),
        ParameterKind.Double => AsDouble().ToString("R", CultureInfo.InvariantCulture),
        _ => _text ?? "",
    };

    private InvalidOperationException WrongKind(ParameterKind wanted) => new($"the parameter holds {Kind}, not {wanted}: {this}");
}
