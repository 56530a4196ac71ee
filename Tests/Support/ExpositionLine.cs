using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Fabrik.Tests.Support;

/// <summary>
/// Reads the tokens of one exposition line. Prometheus text 0.0.4 separates tokens by any run of
/// blanks and tabs and ignores them at both ends of a line; OpenMetrics separates them by exactly
/// one space and allows nothing else. Names, escapes and numbers follow each format's grammar
/// (prometheus.io's exposition_formats and the OpenMetrics 1.0 ABNF).
/// </summary>
internal sealed partial class ExpositionLine(string text, int number, ExpositionFormat format)
{
    private int _position;

    public int Number => number;

    public bool AtEnd => _position >= text.Length;

    private char Current => _position < text.Length ? text[_position] : '\0';

    private bool OpenMetrics => format == ExpositionFormat.OpenMetrics;

    public ExpositionException Error(string reason) => new(number, reason);

    /// <summary>Skips blanks and tabs (0.0.4 only); returns how many.</summary>
    public int SkipBlanks()
    {
        var start = _position;
        while (!OpenMetrics && Current is ' ' or '\t' && !AtEnd)
        {
            _position++;
        }
        return _position - start;
    }

    /// <summary>The separator before <paramref name="what"/>: one space in OpenMetrics, one or more
    /// blanks or tabs in 0.0.4.</summary>
    public void Separator(string what)
    {
        if (OpenMetrics)
        {
            if (Current != ' ')
            {
                throw Error($"expected one space before {what}");
            }
            _position++;
            if (Current is ' ' or '\t')
            {
                throw Error($"more than one space before {what}");
            }
        }
        else if (SkipBlanks() == 0)
        {
            throw Error($"expected a blank before {what}");
        }
    }

    /// <summary>Whether the next character is <paramref name="c"/>; consumes it if so.</summary>
    public bool Take(char c)
    {
        if (Current != c || AtEnd)
        {
            return false;
        }
        _position++;
        return true;
    }

    public bool Peek(char c) => !AtEnd && Current == c;

    /// <summary>A metric name: <c>[a-zA-Z_:][a-zA-Z0-9_:]*</c>.</summary>
    public string MetricName(string what = "a metric name")
    {
        var start = _position;
        while (!AtEnd && (char.IsAsciiLetter(Current) || Current is '_' or ':' || (_position > start && char.IsAsciiDigit(Current))))
        {
            _position++;
        }
        if (_position == start)
        {
            throw Error($"expected {what}, found {Describe()}");
        }
        return text[start.._position];
    }

    /// <summary>A label name: <c>[a-zA-Z_][a-zA-Z0-9_]*</c>, not one the format reserves
    /// (a leading <c>__</c> in 0.0.4, any leading underscore in OpenMetrics).</summary>
    public string LabelName()
    {
        var start = _position;
        while (!AtEnd && (char.IsAsciiLetter(Current) || Current == '_' || (_position > start && char.IsAsciiDigit(Current))))
        {
            _position++;
        }
        if (_position == start)
        {
            throw Error($"expected a label name, found {Describe()}");
        }
        var name = text[start.._position];
        if (name.StartsWith(OpenMetrics ? "_" : "__", StringComparison.Ordinal))
        {
            throw Error($"label name '{name}' is reserved");
        }
        return name;
    }

    /// <summary>A label set <c>{name="value",...}</c>; the opening brace is next. 0.0.4 allows
    /// blanks between the tokens and a trailing comma but needs at least one label; OpenMetrics
    /// allows <c>{}</c> and nothing else between the tokens.</summary>
    public Dictionary<string, string> Labels()
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        Take('{');
        SkipBlanks();
        if (Take('}'))
        {
            return OpenMetrics ? labels : throw Error("an empty label set '{}' (the 0.0.4 grammar needs at least one label inside the braces)");
        }
        while (true)
        {
            SkipBlanks();
            var name = LabelName();
            SkipBlanks();
            if (!Take('='))
            {
                throw Error($"expected '=' after label name '{name}'");
            }
            SkipBlanks();
            var value = Quoted();
            if (!labels.TryAdd(name, value))
            {
                throw Error($"label '{name}' appears twice in one label set");
            }
            SkipBlanks();
            if (Take('}'))
            {
                return labels;
            }
            if (!Take(','))
            {
                throw Error($"expected ',' or '}}' after the value of label '{name}', found {Describe()}");
            }
            SkipBlanks();
            if (Take('}'))
            {
                return OpenMetrics ? throw Error("a trailing ',' before '}' (OpenMetrics allows none)") : labels;
            }
        }
    }

    /// <summary>A double-quoted label value with its escapes resolved: <c>\\</c>, <c>\"</c> and
    /// <c>\n</c>. 0.0.4 allows no other escape; OpenMetrics keeps a backslash before any other
    /// character as it is.</summary>
    public string Quoted()
    {
        if (!Take('"'))
        {
            throw Error($"expected '\"' to open a label value, found {Describe()}");
        }
        var value = new StringBuilder();
        while (true)
        {
            if (AtEnd)
            {
                throw Error("a label value is not closed with '\"'");
            }
            var c = text[_position++];
            if (c == '"')
            {
                return value.ToString();
            }
            if (c != '\\')
            {
                value.Append(c);
                continue;
            }
            value.Append(Escape(allowQuote: true));
        }
    }

    /// <summary>The rest of the line as a HELP text with its escapes resolved: <c>\\</c> and
    /// <c>\n</c> in 0.0.4, and <c>\"</c> as well in OpenMetrics.</summary>
    public string HelpText()
    {
        var help = new StringBuilder();
        while (!AtEnd)
        {
            var c = text[_position++];
            if (OpenMetrics && c == '"')
            {
                throw Error("an unescaped '\"' in a HELP text");
            }
            help.Append(c == '\\' ? Escape(allowQuote: OpenMetrics) : c.ToString());
        }
        return OpenMetrics ? help.ToString() : help.ToString().TrimEnd(' ', '\t');
    }

    private string Escape(bool allowQuote)
    {
        if (AtEnd)
        {
            throw Error("a backslash ends the line (escape it as '\\\\')");
        }
        var next = text[_position++];
        return next switch
        {
            '\\' => "\\",
            'n' => "\n",
            '"' when allowQuote => "\"",
            _ when OpenMetrics && next != '"' => "\\" + next,
            _ => throw Error($"invalid escape sequence '\\{next}'"),
        };
    }

    /// <summary>The next token: up to the next blank or tab (0.0.4) or space (OpenMetrics), or the end.</summary>
    public string Token(string what)
    {
        var start = _position;
        while (!AtEnd && Current != ' ' && (OpenMetrics || Current != '\t'))
        {
            _position++;
        }
        if (_position == start)
        {
            throw Error($"expected {what}, found {Describe()}");
        }
        return text[start.._position];
    }

    /// <summary>A sample value: a decimal float, or NaN, Inf, +Inf, -Inf and Infinity in any case
    /// (NaN without a sign), as 0.0.4 takes Go's ParseFloat in decimal and OpenMetrics its
    /// <c>number</c> rule.</summary>
    public double Value(string what) => ParseNumber(Token(what), what);

    /// <summary>A timestamp: an int64 of milliseconds in 0.0.4, a real number of seconds in OpenMetrics.</summary>
    public double Timestamp()
    {
        var token = Token("a timestamp");
        if (OpenMetrics)
        {
            return RealNumber().IsMatch(token)
                ? ParseNumber(token, "timestamp")
                : throw Error($"timestamp '{token}' is not a real number");
        }
        return long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var milliseconds)
            ? milliseconds
            : throw Error($"timestamp '{token}' is not an int64 of milliseconds");
    }

    /// <summary>Parses <paramref name="token"/> as a value of this format; <paramref name="what"/>
    /// names it in the error.</summary>
    public double ParseNumber(string token, string what) =>
        TryParseNumber(token) ?? throw Error(RealNumber().IsMatch(token)
            ? $"{what} '{token}' does not fit a 64-bit float"
            : $"{what} '{token}' is not a number");

    /// <summary>A number as both formats write one (also the values of 'le' and 'quantile'
    /// labels), or null.</summary>
    public static double? TryParseNumber(string token)
    {
        if (RealNumber().IsMatch(token))
        {
            var value = double.Parse(token, NumberStyles.Float, CultureInfo.InvariantCulture);
            return double.IsFinite(value) ? value : null;
        }
        var unsigned = token.TrimStart('+', '-');
        var signs = token.Length - unsigned.Length;
        if (signs <= 1 && (unsigned.Equals("inf", StringComparison.OrdinalIgnoreCase) || unsigned.Equals("infinity", StringComparison.OrdinalIgnoreCase)))
        {
            return token[0] == '-' ? double.NegativeInfinity : double.PositiveInfinity;
        }
        // Go's ParseFloat (0.0.4) and OpenMetrics' "nan" take no sign.
        return signs == 0 && unsigned.Equals("nan", StringComparison.OrdinalIgnoreCase) ? double.NaN : null;
    }

    /// <summary>The end of the line: trailing blanks and tabs are allowed in 0.0.4, nothing in OpenMetrics.</summary>
    public void End()
    {
        SkipBlanks();
        if (!AtEnd)
        {
            throw Error($"unexpected {Describe()} at the end of the line");
        }
    }

    private string Describe() => AtEnd ? "the end of the line" : $"'{text[_position..Math.Min(text.Length, _position + 20)]}'";

    // Digits with an optional fraction and exponent (both formats' decimal floats; OpenMetrics'
    // realnumber rule, whose literals are case-insensitive, allows exactly these).
    [GeneratedRegex(@"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")]
    private static partial Regex RealNumber();
}
