using System.Text.Json;
using Fabrik.Protocol.Triton;
using Google.Protobuf;

namespace Fabrik.Protocol.Http;

/// <summary>
/// Renders <see cref="ServerViews"/>' messages as the JSON bodies of the KServe v2 HTTP API and
/// Triton's HTTP extensions. The configuration follows protobuf's JSON mapping with the proto
/// field names, as Triton prints it (64-bit integers such as dims are strings); metadata,
/// statistics and the repository index use plain JSON numbers, as Triton writes them.
/// </summary>
internal static class ServerViewsJson
{
    private static readonly JsonFormatter ConfigFormatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true).WithPreserveProtoFieldNames(true));

    public static void WriteServerMetadata(Utf8JsonWriter json, ServerMetadataResponse metadata)
    {
        json.WriteStartObject();
        json.WriteString("name"u8, metadata.Name);
        json.WriteString("version"u8, metadata.Version);
        json.WriteStartArray("extensions"u8);
        foreach (var extension in metadata.Extensions)
        {
            json.WriteStringValue(extension);
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    public static void WriteModelMetadata(Utf8JsonWriter json, ModelMetadataResponse metadata)
    {
        json.WriteStartObject();
        json.WriteString("name"u8, metadata.Name);
        json.WriteStartArray("versions"u8);
        foreach (var version in metadata.Versions)
        {
            json.WriteStringValue(version);
        }
        json.WriteEndArray();
        json.WriteString("platform"u8, metadata.Platform);
        WriteTensorMetadata(json, "inputs"u8, metadata.Inputs);
        WriteTensorMetadata(json, "outputs"u8, metadata.Outputs);
        json.WriteEndObject();
    }

    private static void WriteTensorMetadata(Utf8JsonWriter json, ReadOnlySpan<byte> property, IEnumerable<ModelMetadataResponse.Types.TensorMetadata> tensors)
    {
        json.WriteStartArray(property);
        foreach (var tensor in tensors)
        {
            json.WriteStartObject();
            json.WriteString("name"u8, tensor.Name);
            json.WriteString("datatype"u8, tensor.Datatype);
            json.WriteStartArray("shape"u8);
            foreach (var dim in tensor.Shape)
            {
                json.WriteNumberValue(dim);
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    /// <summary>GET /v2/models/{m}/config.</summary>
    public static void WriteConfig(Utf8JsonWriter json, ModelConfig config) => json.WriteRawValue(ConfigFormatter.Format(config), skipInputValidation: true);

    /// <summary>GET /v2/models[/{m}[/versions/{v}]]/stats.</summary>
    public static void WriteStatistics(Utf8JsonWriter json, ModelStatisticsResponse statistics)
    {
        json.WriteStartObject();
        json.WriteStartArray("model_stats"u8);
        foreach (var model in statistics.ModelStats)
        {
            var inference = model.InferenceStats;
            json.WriteStartObject();
            json.WriteString("name"u8, model.Name);
            json.WriteString("version"u8, model.Version);
            json.WriteNumber("last_inference"u8, model.LastInference);
            json.WriteNumber("inference_count"u8, model.InferenceCount);
            json.WriteNumber("execution_count"u8, model.ExecutionCount);
            json.WriteStartObject("inference_stats"u8);
            WriteDuration(json, "success"u8, inference.Success);
            WriteDuration(json, "fail"u8, inference.Fail);
            WriteDuration(json, "queue"u8, inference.Queue);
            WriteDuration(json, "compute_input"u8, inference.ComputeInput);
            WriteDuration(json, "compute_infer"u8, inference.ComputeInfer);
            WriteDuration(json, "compute_output"u8, inference.ComputeOutput);
            WriteDuration(json, "cache_hit"u8, inference.CacheHit);
            WriteDuration(json, "cache_miss"u8, inference.CacheMiss);
            json.WriteEndObject();
            json.WriteStartArray("batch_stats"u8);
            foreach (var batch in model.BatchStats)
            {
                json.WriteStartObject();
                json.WriteNumber("batch_size"u8, batch.BatchSize);
                WriteDuration(json, "compute_input"u8, batch.ComputeInput);
                WriteDuration(json, "compute_infer"u8, batch.ComputeInfer);
                WriteDuration(json, "compute_output"u8, batch.ComputeOutput);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>POST /v2/repository/index: a row without a version, state or reason leaves them out.</summary>
    public static void WriteRepositoryIndex(Utf8JsonWriter json, RepositoryIndexResponse index)
    {
        json.WriteStartArray();
        foreach (var model in index.Models)
        {
            json.WriteStartObject();
            json.WriteString("name"u8, model.Name);
            if (model.Version.Length > 0)
            {
                json.WriteString("version"u8, model.Version);
            }
            if (model.State.Length > 0)
            {
                json.WriteString("state"u8, model.State);
            }
            if (model.Reason.Length > 0)
            {
                json.WriteString("reason"u8, model.Reason);
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    private static void WriteDuration(Utf8JsonWriter json, ReadOnlySpan<byte> name, StatisticDuration? duration)
    {
        json.WriteStartObject(name);
        json.WriteNumber("count"u8, duration?.Count ?? 0);
        json.WriteNumber("ns"u8, duration?.Ns ?? 0);
        json.WriteEndObject();
    }
}
