using System.Globalization;
using System.Text;

namespace Fabrik.Configuration;

/// <summary>
/// Parses protobuf text format (the syntax of config.pbtxt) into an untyped tree. It checks
/// syntax only; <see cref="ModelConfigReader"/> gives the fields their meaning.
/// </summary>
/// <remarks>A repository file is untrusted input: nesting is bounded by <see cref="MaximumDepth"/>
/// (protobuf's own default recursion limit), so no file can exhaust the stack, and a file longer
/// than <see cref="MaximumLength"/> is refused before it is read.</remarks>
internal sealed class TextFormatParser
{
    /// <summary>Deepest nesting of messages accepted.</summary>
    public const int MaximumDepth = 100;

    /// <summary>Largest config file accepted, in bytes (Triton's own configs are a few KiB).</summary>
    public const int MaximumLength = 4 << 20;

    private readonly string _text;
    private int _offset;
    private int _line = 1;
    private int _lineStart;
    private int _depth;

    private TextFormatParser(string text) => _text = text;

    /// <summary>Parses a whole document.</summary>
    /// <exception cref="ConfigFormatException">The text is malformed.</exception>
    public static TextMessage Parse(string text)
    {
        if (text.Length > MaximumLength)
        {
            throw new ConfigFormatException($"the configuration has {text.Length} characters; the limit is {MaximumLength}");
        }
        var parser = new TextFormatParser(text);
        var message = parser.ParseFields(terminator: null);
        return message;
    }

    private TextPosition Position => new(_line, _offset - _lineStart + 1);

    private TextMessage ParseFields(char? terminator)
    {
        var fields = new List<TextField>();
        while (true)
        {
            SkipWhitespaceAndComments();
            if (_offset >= _text.Length)
            {
                if (terminator is not null)
                {
                    throw ConfigFormatException.At(Position, $"unexpected end of file: expected '{terminator}'");
                }
                return new TextMessage(fields);
            }
            if (terminator is not null && _text[_offset] == terminator)
            {
                _offset++;
                return new TextMessage(fields);
            }
            ParseField(fields);
            SkipWhitespaceAndComments();
            if (_offset < _text.Length && (_text[_offset] == ',' || _text[_offset] == ';'))
            {
                _offset++;
            }
        }
    }

    private void ParseField(List<TextField> fields)
    {
        var position = Position;
        if (!IsIdentifierStart(_text[_offset]))
        {
            throw ConfigFormatException.At(position, $"expected a field name, found '{_text[_offset]}'");
        }
        var name = ReadIdentifier();
        SkipWhitespaceAndComments();
        var hasColon = TryConsume(':');
        SkipWhitespaceAndComments();
        if (_offset >= _text.Length)
        {
            throw ConfigFormatException.At(Position, $"unexpected end of file: field '{name}' has no value");
        }
        var next = _text[_offset];
        if (next is '{' or '<')
        {
            fields.Add(new TextField(name, position, null, ParseMessageBody()));
        }
        else if (next == '[')
        {
            // The colon is optional before a list, as Triton's configs write `input [ {...} ]`.
            ParseList(name, fields);
        }
        else
        {
            if (!hasColon)
            {
                throw ConfigFormatException.At(Position, $"expected ':' or '{{' after field name '{name}'");
            }
            fields.Add(new TextField(name, position, ParseScalar(name), null));
        }
    }

    /// <summary>Reads a config file, refusing one over <see cref="MaximumLength"/> bytes before
    /// reading it.</summary>
    /// <exception cref="ConfigFormatException">The file is too large.</exception>
    public static string ReadFile(string path) => Decode(ReadFileBytes(path));

    /// <summary>Reads a config file's bytes once, refusing one over <see cref="MaximumLength"/>
    /// bytes before reading it (and one that grows past it while being read).</summary>
    /// <exception cref="ConfigFormatException">The file is too large.</exception>
    public static byte[] ReadFileBytes(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var length = stream.Length;
        if (length > MaximumLength)
        {
            throw new ConfigFormatException($"the file has {length} bytes; the limit is {MaximumLength}");
        }
        using var bytes = new MemoryStream((int)length);
        var buffer = new byte[16384];
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            if (bytes.Length + read > MaximumLength)
            {
                throw new ConfigFormatException($"the file grew past the limit of {MaximumLength} bytes while being read");
            }
            bytes.Write(buffer, 0, read);
        }
        return bytes.ToArray();
    }

    /// <summary>The text of a config file's bytes, decoded as <see cref="File.ReadAllText(string)"/> does (UTF-8 unless a byte-order mark says otherwise).</summary>
    public static string Decode(byte[] bytes)
    {
        using var reader = new StreamReader(new MemoryStream(bytes), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    private TextMessage ParseMessageBody()
    {
        if (_depth == MaximumDepth)
        {
            throw ConfigFormatException.At(Position, $"messages are nested more than {MaximumDepth} deep");
        }
        var close = _text[_offset] == '{' ? '}' : '>';
        _offset++;
        _depth++;
        var message = ParseFields(close);
        _depth--;
        return message;
    }

    private void ParseList(string name, List<TextField> fields)
    {
        _offset++; // '['
        SkipWhitespaceAndComments();
        if (TryConsume(']'))
        {
            return;
        }
        while (true)
        {
            SkipWhitespaceAndComments();
            var position = Position;
            if (_offset >= _text.Length)
            {
                throw ConfigFormatException.At(position, $"unexpected end of file in the list of field '{name}'");
            }
            fields.Add(_text[_offset] is '{' or '<'
                ? new TextField(name, position, null, ParseMessageBody())
                : new TextField(name, position, ParseScalar(name), null));
            SkipWhitespaceAndComments();
            if (TryConsume(']'))
            {
                return;
            }
            if (!TryConsume(','))
            {
                throw ConfigFormatException.At(Position, $"expected ',' or ']' in the list of field '{name}'");
            }
        }
    }

    private TextScalar ParseScalar(string field)
    {
        var position = Position;
        var c = _text[_offset];
        if (c is '"' or '\'')
        {
            // Adjacent string literals concatenate, as in protobuf text format.
            var builder = new StringBuilder();
            do
            {
                builder.Append(ReadString());
                SkipWhitespaceAndComments();
            }
            while (_offset < _text.Length && _text[_offset] is '"' or '\'');
            return new TextScalar(TextScalarKind.String, builder.ToString());
        }
        if (c == '-' || c == '+' || c == '.' || char.IsAsciiDigit(c))
        {
            var start = _offset;
            _offset++;
            while (_offset < _text.Length && (char.IsAsciiLetterOrDigit(_text[_offset]) || _text[_offset] is '.' or '+' or '-' or '_'))
            {
                _offset++;
            }
            var number = _text[start.._offset];
            if (!double.TryParse(number.TrimEnd('f', 'F'), NumberStyles.Float, CultureInfo.InvariantCulture, out _)
                && !TryParseInteger(number, out _))
            {
                if (number is "-inf" or "-infinity" or "-nan")
                {
                    return new TextScalar(TextScalarKind.Number, number);
                }
                throw ConfigFormatException.At(position, $"'{number}' is not a number (field '{field}')");
            }
            return new TextScalar(TextScalarKind.Number, number);
        }
        if (IsIdentifierStart(c))
        {
            return new TextScalar(TextScalarKind.Identifier, ReadIdentifier());
        }
        throw ConfigFormatException.At(position, $"expected a value for field '{field}', found '{c}'");
    }

    /// <summary>Parses a decimal, hexadecimal (0x) or octal (leading 0) integer literal.</summary>
    public static bool TryParseInteger(string text, out long value)
    {
        var negative = text.StartsWith('-');
        var digits = negative || text.StartsWith('+') ? text[1..] : text;
        bool ok;
        if (digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            ok = ulong.TryParse(digits.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex) && hex <= long.MaxValue;
            value = ok ? (long)hex : 0;
        }
        else if (digits.Length > 1 && digits[0] == '0' && digits.All(char.IsAsciiDigit))
        {
            value = 0;
            ok = true;
            foreach (var digit in digits)
            {
                if (digit > '7' || value > (long.MaxValue >> 3))
                {
                    ok = false;
                    break;
                }
                value = (value << 3) | (long)(digit - '0');
            }
        }
        else
        {
            ok = long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        }
        if (ok && negative)
        {
            value = -value;
        }
        return ok;
    }

    private string ReadString()
    {
        var position = Position;
        var quote = _text[_offset++];
        var bytes = new List<byte>();
        Span<byte> encoded = stackalloc byte[4];
        while (true)
        {
            if (_offset >= _text.Length || _text[_offset] == '\n')
            {
                throw ConfigFormatException.At(position, "unterminated string");
            }
            var c = _text[_offset++];
            if (c == quote)
            {
                return Encoding.UTF8.GetString(bytes.ToArray());
            }
            if (c != '\\')
            {
                var rune = char.IsHighSurrogate(c) && _offset < _text.Length
                    ? new Rune(c, _text[_offset++])
                    : new Rune(c);
                bytes.AddRange(encoded[..rune.EncodeToUtf8(encoded)]);
                continue;
            }
            if (_offset >= _text.Length)
            {
                throw ConfigFormatException.At(position, "unterminated string");
            }
            var escape = _text[_offset++];
            switch (escape)
            {
                case 'n': bytes.Add((byte)'\n'); break;
                case 't': bytes.Add((byte)'\t'); break;
                case 'r': bytes.Add((byte)'\r'); break;
                case 'a': bytes.Add(7); break;
                case 'b': bytes.Add(8); break;
                case 'f': bytes.Add(12); break;
                case 'v': bytes.Add(11); break;
                case '\\': bytes.Add((byte)'\\'); break;
                case '\'': bytes.Add((byte)'\''); break;
                case '"': bytes.Add((byte)'"'); break;
                case '?': bytes.Add((byte)'?'); break;
                case 'x':
                    bytes.Add((byte)ReadDigits(16, 2, position));
                    break;
                default:
                    if (escape is >= '0' and <= '7')
                    {
                        _offset--;
                        bytes.Add((byte)ReadDigits(8, 3, position));
                        break;
                    }
                    throw ConfigFormatException.At(position, $"unknown escape '\\{escape}' in string");
            }
        }
    }

    private int ReadDigits(int radix, int maximumDigits, TextPosition position)
    {
        var value = 0;
        var count = 0;
        while (count < maximumDigits && _offset < _text.Length)
        {
            var digit = HexValue(_text[_offset]);
            if (digit < 0 || digit >= radix)
            {
                break;
            }
            value = value * radix + digit;
            _offset++;
            count++;
        }
        if (count == 0)
        {
            throw ConfigFormatException.At(position, "escape sequence without digits");
        }
        return value;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    private string ReadIdentifier()
    {
        var start = _offset;
        while (_offset < _text.Length && (char.IsAsciiLetterOrDigit(_text[_offset]) || _text[_offset] is '_' or '.' or '/'))
        {
            _offset++;
        }
        return _text[start.._offset];
    }

    private static bool IsIdentifierStart(char c) => char.IsAsciiLetter(c) || c == '_';

    private bool TryConsume(char c)
    {
        if (_offset < _text.Length && _text[_offset] == c)
        {
            _offset++;
            return true;
        }
        return false;
    }

    private void SkipWhitespaceAndComments()
    {
        while (_offset < _text.Length)
        {
            var c = _text[_offset];
            if (c == '\n')
            {
                _offset++;
                _line++;
                _lineStart = _offset;
            }
            else if (char.IsWhiteSpace(c))
            {
                _offset++;
            }
            else if (c == '#')
            {
                while (_offset < _text.Length && _text[_offset] != '\n')
                {
                    _offset++;
                }
            }
            else
            {
                return;
            }
        }
    }
}
