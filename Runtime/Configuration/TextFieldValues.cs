using System.Collections.Immutable;
using System.Globalization;

namespace Fabrik.Configuration;

/// <summary>The typed values of config.pbtxt fields: each throws <see cref="ConfigFormatException"/>
/// naming the field, its line and column when the text holds another kind of value.</summary>
internal static class TextFieldValues
{
    /// <summary>A <c>parameters { key, value { string_value } }</c> entry, added to <paramref name="parameters"/>.</summary>
    public static void Parameter(TextField field, ImmutableDictionary<string, string>.Builder parameters)
    {
        string? key = null, value = null;
        foreach (var child in Message(field).Fields)
        {
            if (child.Name == "key")
            {
                key = String(child);
            }
            else if (child.Name == "value")
            {
                foreach (var inner in Message(child).Fields)
                {
                    if (inner.Name == "string_value")
                    {
                        value = String(inner);
                    }
                }
            }
        }
        if (key is null || value is null)
        {
            throw ConfigFormatException.At(field.Position, "parameters entries need a key and a value { string_value: ... }");
        }
        parameters[key] = value;
    }

    public static long NonNegative(TextField field)
    {
        var value = Int64(field);
        return value >= 0 ? value : throw ConfigFormatException.At(field.Position, $"field '{field.Name}' must not be negative, got {value}");
    }

    public static TextMessage Message(TextField field) =>
        field.Message ?? throw ConfigFormatException.At(field.Position, $"field '{field.Name}' must be a message {{ ... }}");

    public static TextScalar Scalar(TextField field) =>
        field.Scalar ?? throw ConfigFormatException.At(field.Position, $"field '{field.Name}' must be a value, not a message");

    public static string String(TextField field)
    {
        var scalar = Scalar(field);
        return scalar.Kind == TextScalarKind.String
            ? scalar.Text
            : throw ConfigFormatException.At(field.Position, $"field '{field.Name}' must be a quoted string, got {scalar.Text}");
    }

    public static string Identifier(TextField field)
    {
        var scalar = Scalar(field);
        return scalar.Kind == TextScalarKind.Identifier
            ? scalar.Text
            : throw ConfigFormatException.At(field.Position, $"field '{field.Name}' must be an enum name, got {scalar.Text}");
    }

    public static long Int64(TextField field)
    {
        var scalar = Scalar(field);
        return scalar.Kind == TextScalarKind.Number && TextFormatParser.TryParseInteger(scalar.Text, out var value)
            ? value
            : throw ConfigFormatException.At(field.Position, $"field '{field.Name}' must be an integer, got {scalar.Text}");
    }

    public static int Int32(TextField field)
    {
        var value = Int64(field);
        return value is >= int.MinValue and <= int.MaxValue
            ? (int)value
            : throw ConfigFormatException.At(field.Position, $"field '{field.Name}' is out of range: {value.ToString(CultureInfo.InvariantCulture)}");
    }

    public static bool Bool(TextField field)
    {
        var scalar = Scalar(field);
        return scalar.Text switch
        {
            "true" or "True" or "t" or "1" => true,
            "false" or "False" or "f" or "0" => false,
            _ => throw ConfigFormatException.At(field.Position, $"field '{field.Name}' must be true or false, got {scalar.Text}"),
        };
    }

    /// <summary>The one boolean <paramref name="name"/> of a block such as <c>response_cache { enable: true }</c>
    /// (false when the block leaves it out); any other field of the block is added to
    /// <paramref name="ignored"/> as <c>block.field</c>.</summary>
    public static bool BlockSwitch(TextField field, string name, ImmutableArray<string>.Builder ignored)
    {
        var value = false;
        foreach (var child in Message(field).Fields)
        {
            if (child.Name == name)
            {
                value = Bool(child);
            }
            else
            {
                ignored.Add($"{field.Name}.{child.Name}");
            }
        }
        return value;
    }
}
