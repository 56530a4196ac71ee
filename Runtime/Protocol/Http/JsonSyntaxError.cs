using System.Buffers;
using System.Text.Json;

namespace Fabrik.Protocol.Http;

/// <summary>
/// Says in our own words what is wrong with a request body that is not valid JSON: the byte
/// offset and what the JSON grammar expects there. System.Text.Json's own message is never passed
/// on (it names library internals and reads differently from version to version).
/// </summary>
internal static class JsonSyntaxError
{
    private const string Prefix = "malformed JSON in the request body";

    /// <summary>Describes <paramref name="error"/>, raised while reading <paramref name="json"/>.</summary>
    public static string Describe(ReadOnlySequence<byte> json, JsonException error)
    {
        var bytes = json.IsSingleSegment ? json.FirstSpan : json.ToArray();
        if (Offset(bytes, error) is not { } offset)
        {
            return $"{Prefix}: it is not valid JSON";
        }
        if (offset >= bytes.Length)
        {
            return $"{Prefix}: it ends at byte {bytes.Length} before the JSON is complete; expected {Expected(bytes)}";
        }
        var found = bytes[offset] is >= 0x21 and < 0x7F ? $"'{(char)bytes[offset]}'" : $"byte 0x{bytes[offset]:X2}";
        return $"{Prefix}: unexpected {found} at byte {offset}; expected {Expected(bytes[..offset])}";
    }

    /// <summary>The wording for a JSON value of the wrong kind for its field (a string where a
    /// number belongs, a number out of range).</summary>
    public static string WrongValueKind() => $"{Prefix}: a value has the wrong JSON type or is out of range for its field";

    /// <summary>The error's offset from the start of the body: the reader reports a line (counted by
    /// '\n') and a byte position within it.</summary>
    private static int? Offset(ReadOnlySpan<byte> bytes, JsonException error)
    {
        if (error.LineNumber is not { } line || error.BytePositionInLine is not { } column)
        {
            return null;
        }
        var start = 0;
        for (var i = 0L; i < line; i++)
        {
            var next = bytes[start..].IndexOf((byte)'\n');
            if (next < 0)
            {
                return null;
            }
            start += next + 1;
        }
        return (int)Math.Min(start + column, bytes.Length);
    }

    /// <summary>What the grammar allows after <paramref name="prefix"/>, from the innermost open
    /// object or array and the last significant byte before the error.</summary>
    private static string Expected(ReadOnlySpan<byte> prefix)
    {
        var open = new Stack<(byte Bracket, bool AfterKey)>();
        byte last = 0;
        var inString = false;
        var escaped = false;
        var stringIsKey = false;
        foreach (var b in prefix)
        {
            if (inString)
            {
                if (escaped)
                {
                    escaped = false;
                }
                else if (b == '\\')
                {
                    escaped = true;
                }
                else if (b == '"')
                {
                    inString = false;
                    last = stringIsKey ? (byte)'k' : (byte)'v';
                }
                continue;
            }
            switch (b)
            {
                case (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n':
                    continue;
                case (byte)'"':
                    inString = true;
                    stringIsKey = open.TryPeek(out var top) && top.Bracket == '{' && last is (byte)'{' or (byte)',';
                    continue;
                case (byte)'{' or (byte)'[':
                    open.Push((b, false));
                    last = b;
                    continue;
                case (byte)'}' or (byte)']':
                    open.TryPop(out _);
                    last = (byte)'v';
                    continue;
                case (byte)':' or (byte)',':
                    last = b;
                    continue;
                default:
                    last = (byte)'v'; // part of a number or literal
                    continue;
            }
        }
        if (inString)
        {
            return "the rest of a string and its closing '\"' (control characters must be escaped)";
        }
        var inObject = open.TryPeek(out var innermost) && innermost.Bracket == '{';
        return last switch
        {
            0 => "a JSON value",
            (byte)'{' => "a property name in double quotes or '}'",
            (byte)'[' => "a value or ']'",
            (byte)':' => "a value",
            (byte)',' => inObject ? "a property name in double quotes" : "a value",
            (byte)'k' => "':' after the property name",
            _ => open.Count == 0 ? "nothing more after the JSON value" : inObject ? "',' or '}'" : "',' or ']'",
        };
    }
}
