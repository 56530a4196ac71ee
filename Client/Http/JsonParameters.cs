using System.Text.Json;

namespace Fabrik.Client.Http;

/// <summary>Reads a JSON <c>parameters</c> object into <see cref="ParameterValue"/>s: booleans,
/// integers (signed, or unsigned above the signed range), other numbers as doubles, and strings.
/// Values of other shapes, which the protocol does not define, are skipped.</summary>
internal static class JsonParameters
{
    public static Dictionary<string, ParameterValue> Read(ref Utf8JsonReader reader, string what)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw HttpErrors.InvalidResponse($"'{what}' must be an object");
        }
        var parameters = new Dictionary<string, ParameterValue>(StringComparer.Ordinal);
        while (InferResponseDecoder.NextProperty(ref reader))
        {
            var name = reader.GetString()!;
            reader.Read();
            switch (reader.TokenType)
            {
                case JsonTokenType.True or JsonTokenType.False:
                    parameters[name] = reader.GetBoolean();
                    break;
                case JsonTokenType.Number when reader.TryGetInt64(out var signed):
                    parameters[name] = signed;
                    break;
                case JsonTokenType.Number when reader.TryGetUInt64(out var unsigned):
                    parameters[name] = unsigned;
                    break;
                case JsonTokenType.Number:
                    parameters[name] = reader.GetDouble();
                    break;
                case JsonTokenType.String:
                    parameters[name] = reader.GetString()!;
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        return parameters;
    }
}
