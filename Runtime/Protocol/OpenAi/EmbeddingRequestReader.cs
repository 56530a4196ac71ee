using System.Buffers;
using System.Text.Json;
using Fabrik.Protocol.Http;

namespace Fabrik.Protocol.OpenAi;

/// <summary>
/// Reads a <c>POST /v1/embeddings</c> body with <see cref="Utf8JsonReader"/>: <c>model</c>,
/// <c>input</c> (a string, an array of strings, an array of token ids, or an array of such arrays),
/// <c>encoding_format</c>, <c>dimensions</c> and <c>user</c> (accepted, not used). Other fields
/// are skipped, so clients that send extensions of their own still work. Every problem is a 400
/// naming the field.
/// </summary>
internal static class EmbeddingRequestReader
{
    private static readonly JsonReaderOptions Options = new() { MaxDepth = 16 };

    /// <exception cref="OpenAiException">The body is not such a request.</exception>
    public static EmbeddingRequest Read(ReadOnlySequence<byte> body)
    {
        var reader = new Utf8JsonReader(body, Options);
        try
        {
            return ReadObject(ref reader);
        }
        catch (JsonException e)
        {
            throw OpenAiException.Invalid(IsUtf8(body) ? JsonSyntaxError.Describe(body, e) : NotUtf8);
        }
        catch (InvalidOperationException)
        {
            // Utf8JsonReader's word for a string that is not valid UTF-8 (or a value of the wrong kind).
            throw OpenAiException.Invalid(IsUtf8(body) ? "a value has the wrong JSON type" : NotUtf8);
        }
    }

    private const string NotUtf8 = "the request body is not valid UTF-8";

    private static bool IsUtf8(ReadOnlySequence<byte> body) =>
        System.Text.Unicode.Utf8.IsValid(body.IsSingleSegment ? body.FirstSpan : body.ToArray());

    private static EmbeddingRequest ReadObject(ref Utf8JsonReader reader)
    {
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw OpenAiException.Invalid("the body must be a JSON object");
        }
        string? model = null;
        List<string>? texts = null;
        List<int[]>? tokens = null;
        var base64 = false;
        int? dimensions = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("model"u8))
            {
                reader.Read();
                model = reader.TokenType == JsonTokenType.String ? reader.GetString() : throw OpenAiException.Invalid("'model' must be a string", "model");
            }
            else if (reader.ValueTextEquals("input"u8))
            {
                reader.Read();
                (texts, tokens) = ReadInput(ref reader);
            }
            else if (reader.ValueTextEquals("encoding_format"u8))
            {
                reader.Read();
                base64 = reader.TokenType switch
                {
                    JsonTokenType.String when reader.ValueTextEquals("float"u8) => false,
                    JsonTokenType.String when reader.ValueTextEquals("base64"u8) => true,
                    JsonTokenType.Null => false,
                    _ => throw OpenAiException.Invalid("'encoding_format' must be \"float\" or \"base64\"", "encoding_format"),
                };
            }
            else if (reader.ValueTextEquals("dimensions"u8))
            {
                reader.Read();
                dimensions = reader.TokenType switch
                {
                    JsonTokenType.Number when reader.TryGetInt32(out var value) && value >= 1 => value,
                    JsonTokenType.Null => null,
                    _ => throw OpenAiException.Invalid("'dimensions' must be a whole number of at least 1", "dimensions"),
                };
            }
            else if (reader.ValueTextEquals("user"u8))
            {
                reader.Read();
                if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.Null))
                {
                    throw OpenAiException.Invalid("'user' must be a string", "user");
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
        {
            throw OpenAiException.Invalid("the body must be one JSON object");
        }
        if (string.IsNullOrEmpty(model))
        {
            throw OpenAiException.Invalid("'model' is required", "model");
        }
        if (texts is null && tokens is null)
        {
            throw OpenAiException.Invalid("'input' is required", "input");
        }
        return new EmbeddingRequest { Model = model, Texts = texts, TokenArrays = tokens, Base64 = base64, Dimensions = dimensions };
    }

    /// <summary>A string, an array of strings, one token array, or an array of token arrays.</summary>
    private static (List<string>? Texts, List<int[]>? Tokens) ReadInput(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return ([reader.GetString()!], null);
        }
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw InvalidInput();
        }
        reader.Read();
        switch (reader.TokenType)
        {
            case JsonTokenType.EndArray:
                throw OpenAiException.Invalid("'input' must not be empty", "input");
            case JsonTokenType.String:
                var texts = new List<string>();
                do
                {
                    texts.Add(reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw InvalidInput());
                }
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray);
                return (texts, null);
            case JsonTokenType.Number:
                return (null, [ReadTokens(ref reader)]);
            case JsonTokenType.StartArray:
                var arrays = new List<int[]>();
                do
                {
                    if (reader.TokenType != JsonTokenType.StartArray)
                    {
                        throw InvalidInput();
                    }
                    reader.Read();
                    arrays.Add(ReadTokens(ref reader));
                }
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray);
                return (null, arrays);
            default:
                throw InvalidInput();
        }
    }

    /// <summary>Token ids up to the array's end; the reader stands on the first element (or the end).</summary>
    private static int[] ReadTokens(ref Utf8JsonReader reader)
    {
        var ids = new List<int>();
        while (reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var id))
            {
                throw OpenAiException.Invalid("token ids must be whole numbers", "input");
            }
            ids.Add(id);
            reader.Read();
        }
        return [.. ids];
    }

    private static OpenAiException InvalidInput() =>
        OpenAiException.Invalid("'input' must be a string, an array of strings, an array of token ids, or an array of token id arrays", "input");
}
