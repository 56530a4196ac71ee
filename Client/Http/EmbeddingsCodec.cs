using System.Buffers.Binary;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text.Json;
using Fabrik.Client.Wire;

namespace Fabrik.Client.Http;

/// <summary>
/// The body of an OpenAI-compatible <c>POST /v1/embeddings</c> (Fabrik's embeddings endpoint,
/// not part of KServe v2): texts in, vectors asked for as base64 (little-endian float32s, a
/// third of the bytes of JSON numbers), and the answer read back into one array per vector.
/// </summary>
internal static class EmbeddingsCodec
{
    /// <summary>The request body for <paramref name="values"/>.</summary>
    public static ByteArrayContent Encode(string model, IReadOnlyList<string> values, int? dimensions)
    {
        using var buffer = new PooledBufferWriter();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("model"u8, model);
            json.WriteStartArray("input"u8);
            foreach (var value in values)
            {
                json.WriteStringValue(value);
            }
            json.WriteEndArray();
            json.WriteString("encoding_format"u8, "base64"u8);
            if (dimensions is { } size)
            {
                json.WriteNumber("dimensions"u8, size);
            }
            json.WriteEndObject();
        }
        return new ByteArrayContent(buffer.WrittenMemory.ToArray()) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } };
    }

    /// <summary>The vectors in input order and the token counts of a response to <paramref name="count"/> inputs.</summary>
    /// <exception cref="FabrikException">The answer does not parse, or lacks a vector.</exception>
    public static (float[][] Vectors, long? InputTokens, long? TotalTokens) Decode(ReadOnlyMemory<byte> body, int count)
    {
        var vectors = new float[count][];
        long? inputTokens = null, totalTokens = null;
        try
        {
            var reader = new Utf8JsonReader(body.Span);
            Expect(reader.Read() && reader.TokenType == JsonTokenType.StartObject, "the answer is not a JSON object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("data"u8))
                {
                    reader.Read();
                    Expect(reader.TokenType == JsonTokenType.StartArray, "'data' is not an array");
                    while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                    {
                        ReadItem(ref reader, vectors);
                    }
                }
                else if (reader.ValueTextEquals("usage"u8))
                {
                    reader.Read();
                    Expect(reader.TokenType == JsonTokenType.StartObject, "'usage' is not an object");
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var prompt = reader.ValueTextEquals("prompt_tokens"u8);
                        var total = reader.ValueTextEquals("total_tokens"u8);
                        reader.Read();
                        if (prompt)
                        {
                            inputTokens = reader.GetInt64();
                        }
                        else if (total)
                        {
                            totalTokens = reader.GetInt64();
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw HttpErrors.InvalidResponse($"the embeddings answer is not valid JSON of the expected shape: {e.Message}", e);
        }
        var missing = Array.IndexOf(vectors, null);
        Expect(missing < 0, $"the embeddings answer has no vector for input {missing}");
        return (vectors, inputTokens, totalTokens);
    }

    /// <summary>One <c>{"object": "embedding", "index", "embedding"}</c>; the reader stands on its start.</summary>
    private static void ReadItem(ref Utf8JsonReader reader, float[][] vectors)
    {
        var index = -1;
        float[]? vector = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("index"u8))
            {
                reader.Read();
                index = reader.GetInt32();
            }
            else if (reader.ValueTextEquals("embedding"u8))
            {
                reader.Read();
                vector = reader.TokenType == JsonTokenType.String ? FromBase64(reader.GetBytesFromBase64()) : ReadNumbers(ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        Expect((uint)index < (uint)vectors.Length && vectors[index] is null, $"an embedding has index {index}, not one of the {vectors.Length} inputs (or a repeated one)");
        vectors[index] = vector ?? throw HttpErrors.InvalidResponse($"embedding {index} has no vector");
    }

    private static float[] FromBase64(byte[] bytes)
    {
        Expect(bytes.Length % sizeof(float) == 0, $"a base64 embedding is {bytes.Length} bytes, not a whole number of float32s");
        var vector = new float[bytes.Length / sizeof(float)];
        for (var i = 0; i < vector.Length; i++)
        {
            vector[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * sizeof(float)));
        }
        return vector;
    }

    private static float[] ReadNumbers(ref Utf8JsonReader reader)
    {
        Expect(reader.TokenType == JsonTokenType.StartArray, "an embedding is neither base64 nor an array of numbers");
        var values = new List<float>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            values.Add(reader.GetSingle());
        }
        return CollectionsMarshal.AsSpan(values).ToArray();
    }

    private static void Expect(bool condition, string problem)
    {
        if (!condition)
        {
            throw HttpErrors.InvalidResponse(problem);
        }
    }
}
