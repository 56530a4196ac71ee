using System.Buffers;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Fabrik.Client.Protos;
using Fabrik.Client.Wire;

namespace Fabrik.Client.Http;

/// <summary>
/// KServe v2 over HTTP/REST with one <see cref="HttpClient"/> for the client's lifetime (its
/// connection pool is reused by every call). Inference uses the binary tensor extension or plain
/// JSON as the options say; the answer is read into a pooled buffer that the result owns.
/// </summary>
internal sealed class HttpInferenceTransport : IInferenceTransport
{
    private static readonly byte[] EmptyObject = "{}"u8.ToArray();
    private static readonly byte[] ReadyOnly = """{"ready":true}"""u8.ToArray();

    private readonly HttpClient _http;
    private readonly Uri _address;
    private readonly HttpTensorFormat _format;
    private readonly int _maxResponseBytes;

    public HttpInferenceTransport(FabrikClientOptions options, HttpMessageHandler handler, bool disposeHandler)
    {
        // Paths are relative to the address, which may carry a prefix of its own (a gateway's).
        _address = options.HttpAddress.AbsolutePath.EndsWith('/') ? options.HttpAddress : new Uri(options.HttpAddress + "/");
        _format = options.HttpTensorFormat;
        _maxResponseBytes = options.MaxResponseBytes;
        _http = new HttpClient(handler, disposeHandler) { BaseAddress = _address, Timeout = Timeout.InfiniteTimeSpan };
        if (options.ApiKey is { Length: > 0 } key)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
    }

    public Task<bool> IsLiveAsync(CancellationToken cancellation) => StatusAsync("v2/health/live", cancellation);

    public Task<bool> IsReadyAsync(CancellationToken cancellation) => StatusAsync("v2/health/ready", cancellation);

    public Task<bool> IsModelReadyAsync(string model, string? version, CancellationToken cancellation) =>
        StatusAsync(ModelPath(model, version) + "/ready", cancellation);

    public Task<ServerMetadata> GetServerMetadataAsync(CancellationToken cancellation) =>
        GetAsync("v2", "server metadata", ServerViewsReader.ServerMetadata, cancellation);

    public Task<ModelMetadata> GetModelMetadataAsync(string model, string? version, CancellationToken cancellation) =>
        GetAsync(ModelPath(model, version), $"model metadata of '{model}'", ServerViewsReader.ModelMetadata, cancellation);

    public Task<ModelConfig> GetModelConfigAsync(string model, string? version, CancellationToken cancellation) =>
        GetAsync(ModelPath(model, version) + "/config", $"configuration of '{model}'", ServerViewsReader.ModelConfig, cancellation);

    public Task<IReadOnlyList<ModelStatistics>> GetModelStatisticsAsync(string? model, string? version, CancellationToken cancellation) =>
        GetAsync(model is null ? "v2/models/stats" : ModelPath(model, version) + "/stats", model is null ? "statistics" : $"statistics of '{model}'", ServerViewsReader.Statistics, cancellation);

    public async Task<IReadOnlyList<RepositoryModel>> GetRepositoryIndexAsync(bool readyOnly, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v2/repository/index")
        {
            Content = JsonContent(readyOnly ? ReadyOnly : EmptyObject),
        };
        return await ReadAsync(request, "repository index", ServerViewsReader.RepositoryIndex, cancellation);
    }

    public Task LoadModelAsync(string model, CancellationToken cancellation) =>
        PostAsync($"v2/repository/models/{Uri.EscapeDataString(model)}/load", $"loading model '{model}'", cancellation);

    public Task UnloadModelAsync(string model, CancellationToken cancellation) =>
        PostAsync($"v2/repository/models/{Uri.EscapeDataString(model)}/unload", $"unloading model '{model}'", cancellation);

    public async Task<InferResult> InferAsync(InferRequest request, CancellationToken cancellation)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, ModelPath(request.ModelName, request.ModelVersion) + "/infer")
        {
            Content = InferRequestEncoder.Encode(request, _format),
        };
        using var response = await SendAsync(message, "inference", request.Id, cancellation, request.ModelName);
        var headerLength = InferenceHeaderLength(response);
        var body = await ResponseBody.ReadAsync(response.Content, _maxResponseBytes, cancellation);
        return InferResponseDecoder.Decode(body, headerLength, request);
    }

    public Task RegisterSystemSharedMemoryAsync(string name, string key, long offset, long byteSize, CancellationToken cancellation)
    {
        var body = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteString("key"u8, key);
            json.WriteNumber("offset"u8, offset);
            json.WriteNumber("byte_size"u8, byteSize);
            json.WriteEndObject();
        }
        return PostAsync($"{SharedMemoryPath(name)}/register", $"registering shared memory region '{name}'", cancellation, body.WrittenSpan.ToArray());
    }

    public Task<IReadOnlyList<SharedMemoryRegionStatus>> GetSystemSharedMemoryStatusAsync(string? name, CancellationToken cancellation) =>
        GetAsync($"{SharedMemoryPath(name)}/status", name is null ? "shared memory status" : $"status of shared memory region '{name}'", ServerViewsReader.SharedMemoryStatus, cancellation);

    public Task UnregisterSystemSharedMemoryAsync(string? name, CancellationToken cancellation) =>
        PostAsync($"{SharedMemoryPath(name)}/unregister", name is null ? "unregistering shared memory" : $"unregistering shared memory region '{name}'", cancellation);

    public Task RegisterCudaSharedMemoryAsync(string name, ReadOnlyMemory<byte> rawHandle, long deviceId, long byteSize, CancellationToken cancellation)
    {
        var body = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteStartObject("raw_handle"u8);
            json.WriteBase64String("b64"u8, rawHandle.Span);
            json.WriteEndObject();
            json.WriteNumber("device_id"u8, deviceId);
            json.WriteNumber("byte_size"u8, byteSize);
            json.WriteEndObject();
        }
        return PostAsync($"{CudaSharedMemoryPath(name)}/register", $"registering CUDA shared memory region '{name}'", cancellation, body.WrittenSpan.ToArray());
    }

    public Task<IReadOnlyList<CudaSharedMemoryRegionStatus>> GetCudaSharedMemoryStatusAsync(string? name, CancellationToken cancellation) =>
        GetAsync($"{CudaSharedMemoryPath(name)}/status", name is null ? "CUDA shared memory status" : $"status of CUDA shared memory region '{name}'", ServerViewsReader.CudaSharedMemoryStatus, cancellation);

    public Task UnregisterCudaSharedMemoryAsync(string? name, CancellationToken cancellation) =>
        PostAsync($"{CudaSharedMemoryPath(name)}/unregister", name is null ? "unregistering CUDA shared memory" : $"unregistering CUDA shared memory region '{name}'", cancellation);

    /// <summary>Fabrik's OpenAI-compatible embeddings (not KServe v2).</summary>
    public async Task<(float[][] Vectors, long? InputTokens, long? TotalTokens)> EmbedAsync(
        string model, IReadOnlyList<string> values, int? dimensions, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/embeddings") { Content = EmbeddingsCodec.Encode(model, values, dimensions) };
        using var response = await SendAsync(request, "embeddings", null, cancellation, model);
        using var body = await ResponseBody.ReadAsync(response.Content, _maxResponseBytes, cancellation);
        return EmbeddingsCodec.Decode(body.Memory, values.Count);
    }

    public void Dispose() => _http.Dispose();

    private static ByteArrayContent JsonContent(byte[] json) => new(json) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } };

    private static string SharedMemoryPath(string? region) =>
        region is null ? "v2/systemsharedmemory" : $"v2/systemsharedmemory/region/{Uri.EscapeDataString(region)}";

    private static string CudaSharedMemoryPath(string? region) =>
        region is null ? "v2/cudasharedmemory" : $"v2/cudasharedmemory/region/{Uri.EscapeDataString(region)}";

    private static string ModelPath(string model, string? version) =>
        version is { Length: > 0 }
            ? $"v2/models/{Uri.EscapeDataString(model)}/versions/{Uri.EscapeDataString(version)}"
            : $"v2/models/{Uri.EscapeDataString(model)}";

    private static long? InferenceHeaderLength(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues(InferRequestContent.HeaderLengthName, out var values)
            && !response.Content.Headers.TryGetValues(InferRequestContent.HeaderLengthName, out values))
        {
            return null;
        }
        var text = values.FirstOrDefault();
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var length)
            ? length
            : throw HttpErrors.InvalidResponse($"{InferRequestContent.HeaderLengthName} is '{text}', not a byte count");
    }

    /// <summary>Health and readiness: 200 is true; 400, 404 and 503 (what servers answer for
    /// "not ready" and "no such model") are false; anything else is an error.</summary>
    private async Task<bool> StatusAsync(string path, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        AddTraceContext(request);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
        }
        catch (HttpRequestException e)
        {
            throw HttpErrors.Unreachable(e, _address, $"GET /{path}");
        }
        using (response)
        {
            var status = (int)response.StatusCode;
            return status is >= 200 and < 300 || (status is not (400 or 404 or 503)
                ? throw await HttpErrors.FromResponseAsync(response, $"GET /{path}", null, cancellation)
                : false);
        }
    }

    private async Task<T> GetAsync<T>(string path, string what, Func<ReadOnlyMemory<byte>, T> parse, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        return await ReadAsync(request, what, parse, cancellation);
    }

    private async Task<T> ReadAsync<T>(HttpRequestMessage request, string what, Func<ReadOnlyMemory<byte>, T> parse, CancellationToken cancellation)
    {
        using var response = await SendAsync(request, what, null, cancellation);
        using var body = await ResponseBody.ReadAsync(response.Content, _maxResponseBytes, cancellation);
        return parse(body.Memory);
    }

    private async Task PostAsync(string path, string what, CancellationToken cancellation, byte[]? body = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent(body ?? EmptyObject) };
        using var response = await SendAsync(request, what, null, cancellation);
    }

    /// <summary>Sends with the caller's trace context; a status that is not a success becomes
    /// the server's error as a <see cref="FabrikException"/>, whose text names <paramref name="what"/>
    /// was asked (of <paramref name="model"/>: put together only on failure).</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, string what, string? requestId, CancellationToken cancellation, string? model = null)
    {
        AddTraceContext(request);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
        }
        catch (HttpRequestException e)
        {
            throw HttpErrors.Unreachable(e, _address, Describe(what, model));
        }
        if (response.IsSuccessStatusCode)
        {
            return response;
        }
        using (response)
        {
            throw await HttpErrors.FromResponseAsync(response, Describe(what, model), requestId, cancellation);
        }
    }

    private static string Describe(string what, string? model) => model is null ? what : $"{what} on '{model}'";

    private static void AddTraceContext(HttpRequestMessage request)
    {
        if (TraceContext.TryGet(out var traceParent, out var traceState) && !request.Headers.Contains(TraceContext.TraceParent))
        {
            request.Headers.TryAddWithoutValidation(TraceContext.TraceParent, traceParent);
            if (traceState is { Length: > 0 })
            {
                request.Headers.TryAddWithoutValidation(TraceContext.TraceState, traceState);
            }
        }
    }
}
