using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Fabrik.Protocol.OpenAi;

/// <summary>
/// Writes OpenAI's embeddings response straight into the response body:
/// <c>{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model", "usage"}</c>,
/// each vector as a JSON array of numbers or, for <c>encoding_format: "base64"</c>, as the
/// base64 of its little-endian float32s. A vector cut to fewer <c>dimensions</c> is renormalised
/// to unit length (and so is every vector of a model that normalises).
/// </summary>
internal static class EmbeddingResponseWriter
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, SkipValidation = true };

    /// <summary>Writes the response; the vectors in <paramref name="run"/> are cut and scaled in place.</summary>
    public static void Write(HttpResponse http, EmbeddingRequest request, EmbeddingRun run, int dimensions)
    {
        http.StatusCode = 200;
        http.ContentType = "application/json";
        var settings = run.Embedding.Settings;
        var normalize = settings.Normalize || dimensions != settings.Dimensions;
        var vectors = run.Vectors;
        using var json = new Utf8JsonWriter(http.BodyWriter, WriterOptions);
        json.WriteStartObject();
        json.WriteString("object"u8, "list"u8);
        json.WriteStartArray("data"u8);
        for (var i = 0; i < run.Inputs.Tokens.Length; i++)
        {
            var vector = vectors.Slice(i * settings.Dimensions, dimensions);
            if (normalize)
            {
                Normalize(vector);
            }
            json.WriteStartObject();
            json.WriteString("object"u8, "embedding"u8);
            json.WriteNumber("index"u8, i);
            if (request.Base64)
            {
                if (!BitConverter.IsLittleEndian)
                {
                    BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<float, int>(vector), MemoryMarshal.Cast<float, int>(vector));
                }
                json.WriteBase64String("embedding"u8, MemoryMarshal.AsBytes(vector));
            }
            else
            {
                json.WriteStartArray("embedding"u8);
                foreach (var value in vector)
                {
                    json.WriteNumberValue(value);
                }
                json.WriteEndArray();
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteString("model"u8, request.Model);
        json.WriteStartObject("usage"u8);
        json.WriteNumber("prompt_tokens"u8, run.Inputs.TotalTokens);
        json.WriteNumber("total_tokens"u8, run.Inputs.TotalTokens);
        json.WriteEndObject();
        json.WriteEndObject();
        json.Flush();
    }

    /// <summary>Scales to unit length (L2); a zero vector stays zero.</summary>
    private static void Normalize(Span<float> vector)
    {
        var sum = 0d;
        foreach (var value in vector)
        {
            sum += (double)value * value;
        }
        if (sum == 0)
        {
            return;
        }
        var scale = (float)(1 / Math.Sqrt(sum));
        for (var d = 0; d < vector.Length; d++)
        {
            vector[d] *= scale;
        }
    }
}
