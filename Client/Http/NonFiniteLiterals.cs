namespace Fabrik.Client.Http;

/// <summary>
/// Triton and Fabrik write non-finite floats in JSON as the bare literals <c>NaN</c>,
/// <c>Infinity</c> and <c>-Infinity</c> (rapidjson also writes <c>Inf</c>), which strict JSON
/// readers refuse. An answer whose JSON does not parse is copied once with each such literal
/// outside strings put in quotes; <see cref="JsonTensorReader"/> reads the quoted forms back.
/// </summary>
internal static class NonFiniteLiterals
{
    private static readonly byte[][] Literals = ["-Infinity"u8.ToArray(), "Infinity"u8.ToArray(), "-Inf"u8.ToArray(), "Inf"u8.ToArray(), "NaN"u8.ToArray()];

    /// <summary>The JSON with its bare non-finite literals quoted, or null when it has none (the
    /// caller then reports the original parse error).</summary>
    public static byte[]? TryQuote(ReadOnlySpan<byte> json)
    {
        List<(int Start, int Length)>? found = null;
        var inString = false;
        for (var i = 0; i < json.Length; i++)
        {
            var c = json[i];
            if (inString)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    inString = false;
                }
                continue;
            }
            if (c == '"')
            {
                inString = true;
                continue;
            }
            if (c is (byte)'N' or (byte)'I' or (byte)'-' && LiteralAt(json, i) is { } length)
            {
                (found ??= []).Add((i, length));
                i += length - 1;
            }
        }
        if (found is null)
        {
            return null;
        }
        var quoted = new byte[json.Length + 2 * found.Count];
        int from = 0, to = 0;
        foreach (var (start, length) in found)
        {
            json[from..start].CopyTo(quoted.AsSpan(to));
            to += start - from;
            quoted[to++] = (byte)'"';
            json.Slice(start, length).CopyTo(quoted.AsSpan(to));
            to += length;
            quoted[to++] = (byte)'"';
            from = start + length;
        }
        json[from..].CopyTo(quoted.AsSpan(to));
        return quoted;
    }

    /// <summary>The length of the literal at <paramref name="index"/> when one stands there as a
    /// whole token (not the start of a longer word).</summary>
    private static int? LiteralAt(ReadOnlySpan<byte> json, int index)
    {
        foreach (var literal in Literals)
        {
            var end = index + literal.Length;
            if (json[index..].StartsWith(literal) && (end == json.Length || !char.IsAsciiLetterOrDigit((char)json[end])))
            {
                return literal.Length;
            }
        }
        return null;
    }

    /// <summary>The value of a quoted non-finite literal, or null for any other text.</summary>
    public static double? Parse(ReadOnlySpan<byte> text) =>
        text.SequenceEqual("NaN"u8) ? double.NaN
        : text.SequenceEqual("Infinity"u8) || text.SequenceEqual("Inf"u8) ? double.PositiveInfinity
        : text.SequenceEqual("-Infinity"u8) || text.SequenceEqual("-Inf"u8) ? double.NegativeInfinity
        : null;
}
