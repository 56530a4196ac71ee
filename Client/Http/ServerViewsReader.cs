using System.Text;
using System.Text.Json;
using Fabrik.Client.Protos;
using Google.Protobuf;

namespace Fabrik.Client.Http;

/// <summary>Reads the JSON bodies of the metadata, configuration, statistics, repository and
/// shared-memory status endpoints. The configuration and statistics follow protobuf's JSON mapping, so they are read
/// into the same messages gRPC returns; fields this client does not know are skipped.</summary>
internal static class ServerViewsReader
{
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    public static ServerMetadata ServerMetadata(ReadOnlyMemory<byte> body) => Read(body, "server metadata", JsonValueKind.Object, root =>
        new ServerMetadata(String(root, "name"), String(root, "version"), Strings(root, "extensions")));

    public static ModelMetadata ModelMetadata(ReadOnlyMemory<byte> body) => Read(body, "model metadata", JsonValueKind.Object, root =>
        new ModelMetadata(String(root, "name"), Strings(root, "versions"), String(root, "platform", required: false), Tensors(root, "inputs"), Tensors(root, "outputs")));

    public static IReadOnlyList<RepositoryModel> RepositoryIndex(ReadOnlyMemory<byte> body) => Read<IReadOnlyList<RepositoryModel>>(body, "repository index", JsonValueKind.Array, root =>
        root.EnumerateArray().Select(row => new RepositoryModel(String(row, "name"), Optional(row, "version"), Optional(row, "state"), Optional(row, "reason"))).ToArray());

    public static IReadOnlyList<SharedMemoryRegionStatus> SharedMemoryStatus(ReadOnlyMemory<byte> body) => Read<IReadOnlyList<SharedMemoryRegionStatus>>(body, "shared memory status", JsonValueKind.Array, root =>
        root.EnumerateArray().Select(row => new SharedMemoryRegionStatus(String(row, "name"), String(row, "key"), ByteCount(row, "offset"), ByteCount(row, "byte_size"))).ToArray());

    public static IReadOnlyList<CudaSharedMemoryRegionStatus> CudaSharedMemoryStatus(ReadOnlyMemory<byte> body) => Read<IReadOnlyList<CudaSharedMemoryRegionStatus>>(body, "CUDA shared memory status", JsonValueKind.Array, root =>
        root.EnumerateArray().Select(row => new CudaSharedMemoryRegionStatus(String(row, "name"), ByteCount(row, "device_id"), ByteCount(row, "byte_size"))).ToArray());

    public static ModelConfig ModelConfig(ReadOnlyMemory<byte> body) => Protobuf<ModelConfig>(body, "model configuration");

    public static IReadOnlyList<ModelStatistics> Statistics(ReadOnlyMemory<byte> body) =>
        Protobuf<ModelStatisticsResponse>(body, "model statistics").ModelStats;

    private static T Protobuf<T>(ReadOnlyMemory<byte> body, string what) where T : IMessage, new()
    {
        try
        {
            return Parser.Parse<T>(Encoding.UTF8.GetString(body.Span));
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException or FormatException or InvalidOperationException)
        {
            throw HttpErrors.InvalidResponse($"the {what} does not parse: {e.Message}", e);
        }
    }

    private static T Read<T>(ReadOnlyMemory<byte> body, string what, JsonValueKind kind, Func<JsonElement, T> read)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != kind)
            {
                throw HttpErrors.InvalidResponse($"the {what} is not a JSON {(kind == JsonValueKind.Array ? "array" : "object")}");
            }
            return read(document.RootElement);
        }
        catch (JsonException e)
        {
            throw HttpErrors.InvalidResponse($"the {what} is malformed JSON: {e.Message}", e);
        }
    }

    private static string String(JsonElement element, string name, bool required = true) =>
        Optional(element, name) ?? (required ? throw HttpErrors.InvalidResponse($"'{name}' is missing or not a string") : "");

    private static string? Optional(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long ByteCount(JsonElement element, string name) =>
        element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out var value) ? 0
        : value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var count) && count >= 0 ? count
        : throw HttpErrors.InvalidResponse($"'{name}' must be a byte count");

    private static string[] Strings(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array
            ? [.. array.EnumerateArray().Select(item => item.ValueKind == JsonValueKind.String ? item.GetString()! : throw HttpErrors.InvalidResponse($"'{name}' must hold strings"))]
            : [];

    private static TensorMetadata[] Tensors(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array
            ? [.. array.EnumerateArray().Select(tensor => new TensorMetadata(String(tensor, "name"), String(tensor, "datatype"), Shape(tensor, name)))]
            : [];

    private static long[] Shape(JsonElement tensor, string list) =>
        tensor.ValueKind == JsonValueKind.Object && tensor.TryGetProperty("shape", out var shape) && shape.ValueKind == JsonValueKind.Array
            ? [.. shape.EnumerateArray().Select(dim => dim.ValueKind == JsonValueKind.Number && dim.TryGetInt64(out var value) ? value
                : throw HttpErrors.InvalidResponse($"a shape in '{list}' must hold integers"))]
            : throw HttpErrors.InvalidResponse($"a tensor in '{list}' lacks its 'shape'");
}
