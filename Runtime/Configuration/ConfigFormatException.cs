namespace Fabrik.Configuration;

/// <summary>A config file that is not well-formed protobuf text format, or that holds a value of
/// the wrong kind. The message names the line, the column and the reason.</summary>
internal sealed class ConfigFormatException(string message) : Exception(message)
{
    public static ConfigFormatException At(TextPosition position, string reason) => new($"{position}: {reason}");
}
