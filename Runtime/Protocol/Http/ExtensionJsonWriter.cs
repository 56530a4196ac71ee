using System.Globalization;
using System.Text.Json;
using Fabrik.Models;
using Fabrik.Models.Configuration;
using Fabrik.Observability;
using Fabrik.Tensors;

namespace Fabrik.Protocol.Http;

/// <summary>
/// JSON bodies of Triton's HTTP extensions: model configuration, statistics and the repository
/// index. The configuration follows protobuf's JSON mapping of ModelConfig, as Triton prints it
/// (64-bit integers such as dims are strings).
/// </summary>
internal static class ExtensionJsonWriter
{
    /// <summary>GET /v2/models/{m}/config.</summary>
    public static void WriteConfig(Utf8JsonWriter json, ModelConfig config, string modelFileName)
    {
        json.WriteStartObject();
        json.WriteString("name"u8, config.Name);
        json.WriteString("platform"u8, config.Platform);
        json.WriteString("backend"u8, config.Backend.Length > 0 ? config.Backend : BackendName(config.BackendKind));
        json.WriteStartObject("version_policy"u8);
        json.WriteStartObject("latest"u8);
        json.WriteNumber("num_versions"u8, 1);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteNumber("max_batch_size"u8, config.MaxBatchSize);

        json.WriteStartArray("input"u8);
        foreach (var input in config.Inputs)
        {
            json.WriteStartObject();
            json.WriteString("name"u8, input.Name);
            json.WriteString("data_type"u8, input.DataType.ConfigName());
            json.WriteString("format"u8, "FORMAT_NONE");
            WriteInt64Array(json, "dims"u8, input.Dims);
            json.WriteBoolean("is_shape_tensor"u8, false);
            json.WriteBoolean("allow_ragged_batch"u8, false);
            json.WriteBoolean("optional"u8, input.Optional);
            json.WriteEndObject();
        }
        json.WriteEndArray();

        json.WriteStartArray("output"u8);
        foreach (var output in config.Outputs)
        {
            json.WriteStartObject();
            json.WriteString("name"u8, output.Name);
            json.WriteString("data_type"u8, output.DataType.ConfigName());
            WriteInt64Array(json, "dims"u8, output.Dims);
            json.WriteString("label_filename"u8, "");
            json.WriteBoolean("is_shape_tensor"u8, false);
            json.WriteEndObject();
        }
        json.WriteEndArray();

        json.WriteStartArray("instance_group"u8);
        foreach (var group in config.InstanceGroups)
        {
            json.WriteStartObject();
            json.WriteString("name"u8, group.Name);
            json.WriteString("kind"u8, group.Kind switch
            {
                InstanceKind.Gpu => "KIND_GPU",
                InstanceKind.Cpu => "KIND_CPU",
                _ => "KIND_AUTO",
            });
            json.WriteNumber("count"u8, group.Count);
            json.WriteStartArray("gpus"u8);
            foreach (var gpu in group.Gpus)
            {
                json.WriteNumberValue(gpu);
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();

        json.WriteString("default_model_filename"u8, modelFileName);
        if (config.DynamicBatching is { } batching)
        {
            json.WriteStartObject("dynamic_batching"u8);
            json.WriteStartArray("preferred_batch_size"u8);
            foreach (var size in batching.PreferredBatchSizes)
            {
                json.WriteNumberValue(size);
            }
            json.WriteEndArray();
            json.WriteString("max_queue_delay_microseconds"u8, batching.MaxQueueDelayMicroseconds.ToString(CultureInfo.InvariantCulture));
            json.WriteBoolean("preserve_ordering"u8, batching.PreserveOrdering);
            json.WriteEndObject();
        }
        json.WriteStartObject("parameters"u8);
        foreach (var (key, value) in config.Parameters.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            json.WriteStartObject(key);
            json.WriteString("string_value"u8, value);
            json.WriteEndObject();
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>GET /v2/models[/{m}[/versions/{v}]]/stats.</summary>
    public static void WriteStatistics(Utf8JsonWriter json, IEnumerable<LoadedModel> models)
    {
        json.WriteStartObject();
        json.WriteStartArray("model_stats"u8);
        foreach (var model in models)
        {
            var statistics = model.Statistics;
            json.WriteStartObject();
            json.WriteString("name"u8, model.Name);
            json.WriteString("version"u8, model.VersionText);
            json.WriteNumber("last_inference"u8, statistics.LastInferenceMilliseconds);
            json.WriteNumber("inference_count"u8, statistics.InferenceCount);
            json.WriteNumber("execution_count"u8, statistics.ExecutionCount);
            json.WriteStartObject("inference_stats"u8);
            WriteDuration(json, "success"u8, statistics.Success);
            WriteDuration(json, "fail"u8, statistics.Fail);
            WriteDuration(json, "queue"u8, statistics.Queue);
            WriteDuration(json, "compute_input"u8, statistics.ComputeInput);
            WriteDuration(json, "compute_infer"u8, statistics.ComputeInfer);
            WriteDuration(json, "compute_output"u8, statistics.ComputeOutput);
            WriteDuration(json, "cache_hit"u8, null);
            WriteDuration(json, "cache_miss"u8, null);
            json.WriteEndObject();
            json.WriteStartArray("batch_stats"u8);
            foreach (var batch in statistics.ExecutedBatches)
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

    /// <summary>POST /v2/repository/index.</summary>
    public static void WriteRepositoryIndex(Utf8JsonWriter json, IEnumerable<ModelEntry> entries)
    {
        json.WriteStartArray();
        foreach (var entry in entries)
        {
            // One row per served version; a model without versions gets one row without.
            IEnumerable<string?> versions = entry.Versions.IsEmpty ? [(string?)null] : entry.Versions.Values.Select(v => (string?)v.VersionText);
            foreach (var version in versions)
            {
                json.WriteStartObject();
                json.WriteString("name"u8, entry.Name);
                if (version is not null)
                {
                    json.WriteString("version"u8, version);
                }
                json.WriteString("state"u8, ModelEntry.StateName(entry.State));
                if (ModelHealth.Reason(entry) is { Length: > 0 } reason)
                {
                    json.WriteString("reason"u8, reason);
                }
                json.WriteEndObject();
            }
        }
        json.WriteEndArray();
    }

    private static void WriteDuration(Utf8JsonWriter json, ReadOnlySpan<byte> name, StatisticDuration? duration)
    {
        json.WriteStartObject(name);
        json.WriteNumber("count"u8, duration?.Count ?? 0);
        json.WriteNumber("ns"u8, duration?.Nanoseconds ?? 0);
        json.WriteEndObject();
    }

    private static void WriteInt64Array(Utf8JsonWriter json, ReadOnlySpan<byte> name, IEnumerable<long> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value.ToString(CultureInfo.InvariantCulture));
        }
        json.WriteEndArray();
    }

    private static string BackendName(BackendKind kind) => kind switch
    {
        BackendKind.OnnxRuntime => "onnxruntime",
        BackendKind.TorchScript => "pytorch",
        _ => "",
    };
}
