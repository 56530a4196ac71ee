using System.Runtime.CompilerServices;
using Fabrik.Client.Grpc;
using Fabrik.Client.Http;
using Fabrik.Client.Protos;
using Fabrik.Client.Wire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabrik.Client;

/// <summary>
/// A client for a KServe v2 inference server (Fabrik, NVIDIA Triton, or any server of the same
/// protocol) over HTTP or gRPC, one API for both. Create one per server and keep it: it holds the
/// connection pool (or gRPC channel), is safe for concurrent calls, and is disposed at the end.
/// Every call takes a <see cref="CancellationToken"/>; a failure the server reports, or an answer
/// that does not parse, is a <see cref="FabrikException"/>.
/// </summary>
public sealed partial class FabrikClient : IDisposable
{
    private readonly FabrikClientOptions _options;
    private readonly IInferenceTransport _transport;
    private readonly Lazy<GrpcInferenceTransport> _stream;
    private readonly Lazy<HttpInferenceTransport> _http;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <summary>A client with the given options.</summary>
    /// <exception cref="ArgumentException">An option is out of range; the message names it.</exception>
    public FabrikClient(FabrikClientOptions options, ILogger<FabrikClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = options.TimeProvider;
        var ownHandler = options.HttpHandler is null;
        _stream = new Lazy<GrpcInferenceTransport>(() => new GrpcInferenceTransport(options, options.HttpHandler ?? ClientHandlers.Create(options), ownHandler));
        _transport = options.Transport == FabrikTransport.Grpc
            ? _stream.Value
            : new HttpInferenceTransport(options, options.HttpHandler ?? ClientHandlers.Create(options), ownHandler);
        // Embeddings travel over HTTP whatever the transport: the gRPC client reaches them through a second pool.
        _http = new Lazy<HttpInferenceTransport>(() => _transport as HttpInferenceTransport
            ?? new HttpInferenceTransport(options, options.HttpHandler ?? ClientHandlers.Create(options), ownHandler));
    }

    /// <summary>The HTTP/REST endpoint the client calls.</summary>
    public Uri HttpAddress => _options.HttpAddress;

    /// <summary>The transport in use for calls other than the stream.</summary>
    public FabrikTransport Transport => _options.Transport;

    /// <summary>Whether the server is live (<c>/v2/health/live</c>, <c>ServerLive</c>).</summary>
    public Task<bool> IsLiveAsync(CancellationToken cancellationToken = default) =>
        CallAsync("liveness", static (transport, token) => transport.IsLiveAsync(token), null, cancellationToken);

    /// <summary>Whether the server is ready: every model it was told to load is loaded (<c>/v2/health/ready</c>, <c>ServerReady</c>).</summary>
    public Task<bool> IsReadyAsync(CancellationToken cancellationToken = default) =>
        CallAsync("readiness", static (transport, token) => transport.IsReadyAsync(token), null, cancellationToken);

    /// <summary>Whether a model (a version of it, when given) is ready; false as well for a model the server does not know.</summary>
    public Task<bool> IsModelReadyAsync(string model, string? version = null, CancellationToken cancellationToken = default) =>
        CallAsync("model readiness", (transport, token) => transport.IsModelReadyAsync(Name(model), version, token), null, cancellationToken);

    /// <summary>The server's name, version and protocol extensions.</summary>
    public Task<ServerMetadata> GetServerMetadataAsync(CancellationToken cancellationToken = default) =>
        CallAsync("server metadata", static (transport, token) => transport.GetServerMetadataAsync(token), null, cancellationToken);

    /// <summary>A model's versions, platform, inputs and outputs.</summary>
    public Task<ModelMetadata> GetModelMetadataAsync(string model, string? version = null, CancellationToken cancellationToken = default) =>
        CallAsync("model metadata", (transport, token) => transport.GetModelMetadataAsync(Name(model), version, token), null, cancellationToken);

    /// <summary>The configuration a model was loaded with (Triton's configuration extension), as
    /// Triton's <c>ModelConfig</c> message over either transport.</summary>
    public Task<ModelConfig> GetModelConfigAsync(string model, string? version = null, CancellationToken cancellationToken = default) =>
        CallAsync("model configuration", (transport, token) => transport.GetModelConfigAsync(Name(model), version, token), null, cancellationToken);

    /// <summary>Inference statistics (Triton's statistics extension): of every loaded model when
    /// <paramref name="model"/> is null, else of its served versions, or of one version.</summary>
    public Task<IReadOnlyList<ModelStatistics>> GetModelStatisticsAsync(string? model = null, string? version = null, CancellationToken cancellationToken = default) =>
        CallAsync("model statistics", (transport, token) => transport.GetModelStatisticsAsync(model, version, token), null, cancellationToken);

    /// <summary>The models in the server's repository with their states (Triton's model repository
    /// extension); only the ready ones with <paramref name="readyOnly"/>.</summary>
    public Task<IReadOnlyList<RepositoryModel>> GetRepositoryIndexAsync(bool readyOnly = false, CancellationToken cancellationToken = default) =>
        CallAsync("repository index", (transport, token) => transport.GetRepositoryIndexAsync(readyOnly, token), null, cancellationToken);

    /// <summary>Loads (or reloads) a model from the server's repository; returns once it is ready.
    /// The server must allow it (explicit model control).</summary>
    public Task LoadModelAsync(string model, CancellationToken cancellationToken = default) =>
        CallAsync("model load", async (transport, token) => { await transport.LoadModelAsync(Name(model), token); return true; }, null, cancellationToken);

    /// <summary>Unloads a model; returns once the server has stopped taking requests for it.</summary>
    public Task UnloadModelAsync(string model, CancellationToken cancellationToken = default) =>
        CallAsync("model unload", async (transport, token) => { await transport.UnloadModelAsync(Name(model), token); return true; }, null, cancellationToken);

    /// <summary>
    /// Registers <paramref name="byteSize"/> bytes at <paramref name="offset"/> of the system
    /// shared-memory object <paramref name="key"/> (<c>/name</c>, as <c>shm_open</c> names it; see
    /// <see cref="LocalSharedMemory"/>) as region <paramref name="name"/>, which inputs and outputs
    /// may then name (Triton's system shared-memory extension). The server reads the object on its
    /// own host, so the client must run there; Fabrik allows it only with
    /// <c>--allow-shared-memory=true</c>, to loopback clients, and with keys only to the
    /// <c>shared-memory</c> scope (a refusal is <see cref="FabrikErrorKind.PermissionDenied"/>).
    /// </summary>
    public Task RegisterSystemSharedMemoryAsync(string name, string key, long byteSize, long offset = 0, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentOutOfRangeException.ThrowIfNegative(byteSize);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        return CallAsync("shared memory registration", async (transport, token) => { await transport.RegisterSystemSharedMemoryAsync(name, key, offset, byteSize, token); return true; }, null, cancellationToken);
    }

    /// <summary>The registered system shared-memory regions, or the one named (a name the server
    /// does not know is <see cref="FabrikErrorKind.NotFound"/>).</summary>
    public Task<IReadOnlyList<SharedMemoryRegionStatus>> GetSystemSharedMemoryStatusAsync(string? name = null, CancellationToken cancellationToken = default) =>
        CallAsync("shared memory status", (transport, token) => transport.GetSystemSharedMemoryStatusAsync(EmptyAsNull(name), token), null, cancellationToken);

    /// <summary>Unregisters a system shared-memory region, or every region when
    /// <paramref name="name"/> is null; a name the server does not know is not an error.</summary>
    public Task UnregisterSystemSharedMemoryAsync(string? name = null, CancellationToken cancellationToken = default) =>
        CallAsync("shared memory unregistration", async (transport, token) => { await transport.UnregisterSystemSharedMemoryAsync(EmptyAsNull(name), token); return true; }, null, cancellationToken);

    /// <summary>
    /// Registers the first <paramref name="byteSize"/> bytes of a device allocation of this process
    /// on CUDA device <paramref name="deviceId"/>, named by its 64-byte CUDA IPC handle
    /// (<c>cudaIpcGetMemHandle</c>), as region <paramref name="name"/> (Triton's CUDA
    /// shared-memory extension). The same rules as system regions hold; a server without a GPU
    /// refuses it.
    /// </summary>
    public Task RegisterCudaSharedMemoryAsync(string name, ReadOnlyMemory<byte> rawHandle, long deviceId, long byteSize, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfNotEqual(rawHandle.Length, 64);
        ArgumentOutOfRangeException.ThrowIfNegative(deviceId);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(byteSize);
        return CallAsync("CUDA shared memory registration", async (transport, token) => { await transport.RegisterCudaSharedMemoryAsync(name, rawHandle, deviceId, byteSize, token); return true; }, null, cancellationToken);
    }

    /// <summary>The registered CUDA shared-memory regions, or the one named (a name the server does
    /// not know is <see cref="FabrikErrorKind.NotFound"/>).</summary>
    public Task<IReadOnlyList<CudaSharedMemoryRegionStatus>> GetCudaSharedMemoryStatusAsync(string? name = null, CancellationToken cancellationToken = default) =>
        CallAsync("CUDA shared memory status", (transport, token) => transport.GetCudaSharedMemoryStatusAsync(EmptyAsNull(name), token), null, cancellationToken);

    /// <summary>Unregisters a CUDA shared-memory region, or every CUDA region when
    /// <paramref name="name"/> is null; a name the server does not know is not an error.</summary>
    public Task UnregisterCudaSharedMemoryAsync(string? name = null, CancellationToken cancellationToken = default) =>
        CallAsync("CUDA shared memory unregistration", async (transport, token) => { await transport.UnregisterCudaSharedMemoryAsync(EmptyAsNull(name), token); return true; }, null, cancellationToken);

    /// <summary>Runs one inference. Dispose the result when done with its outputs: over HTTP their
    /// bytes lie in a pooled buffer.</summary>
    public Task<InferResult> InferAsync(InferRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return CallAsync("inference", static (transport, request, token) => transport.InferAsync(request, token), request, request.Id, cancellationToken);
    }

    /// <summary>
    /// Runs requests over gRPC's bidirectional stream (<c>ModelStreamInfer</c>, at
    /// <see cref="FabrikClientOptions.GrpcAddress"/> whatever the transport): each request is sent
    /// as <paramref name="requests"/> yields it, and each answer comes back as it arrives, in
    /// order. A request the server refuses comes as a <see cref="StreamInferResponse"/> holding the
    /// error, and the stream goes on; a broken stream throws. Streams are not retried.
    /// </summary>
    public async IAsyncEnumerable<StreamInferResponse> StreamInferAsync(IAsyncEnumerable<InferRequest> requests, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        await foreach (var response in _stream.Value.StreamAsync(requests, cancellationToken))
        {
            yield return response;
        }
    }

    /// <summary>An <see cref="Microsoft.Extensions.AI.IEmbeddingGenerator{TInput, TEmbedding}"/> over Fabrik's embeddings
    /// endpoint for <paramref name="model"/> (see <see cref="FabrikEmbeddingGenerator"/>).</summary>
    public FabrikEmbeddingGenerator AsEmbeddingGenerator(string model, int? dimensions = null) => new(this, model, dimensions);

    /// <summary>Embeddings of <paramref name="values"/> from <c>POST /v1/embeddings</c>, with the
    /// timeout and retry policy of every call.</summary>
    internal Task<(float[][] Vectors, long? InputTokens, long? TotalTokens)> EmbedAsync(
        string model, IReadOnlyList<string> values, int? dimensions, CancellationToken cancellationToken) =>
        CallAsync("embeddings", (_, token) => _http.Value.EmbedAsync(Name(model), values, dimensions, token), null, cancellationToken);

    /// <summary>Closes the connections (or channel) the client opened.</summary>
    public void Dispose()
    {
        _transport.Dispose();
        if (_http.IsValueCreated && !ReferenceEquals(_http.Value, _transport))
        {
            _http.Value.Dispose();
        }
        if (_stream.IsValueCreated && !ReferenceEquals(_stream.Value, _transport))
        {
            _stream.Value.Dispose();
        }
    }

    private static string? EmptyAsNull(string? name) => string.IsNullOrEmpty(name) ? null : name;

    private static string Name(string model) =>
        string.IsNullOrEmpty(model) ? throw new ArgumentException("a model name is required", nameof(model)) : model;

    /// <summary>One call with the options' timeout on each attempt and the retry policy around the attempts.</summary>
    private Task<T> CallAsync<T>(string operation, Func<IInferenceTransport, CancellationToken, Task<T>> call, string? requestId, CancellationToken cancellation) =>
        CallAsync(operation, static (transport, call, token) => call(transport, token), call, requestId, cancellation);

    /// <inheritdoc cref="CallAsync{T}(string, Func{IInferenceTransport, CancellationToken, Task{T}}, string?, CancellationToken)"/>
    /// <remarks>The call's argument travels as <paramref name="state"/>, so that a static lambda
    /// serves every call (inference makes no closure per request).</remarks>
    private async Task<T> CallAsync<TState, T>(string operation, Func<IInferenceTransport, TState, CancellationToken, Task<T>> call, TState state, string? requestId, CancellationToken cancellation)
    {
        var started = _time.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            TimeSpan delay;
            using (var timeout = _options.Timeout == Timeout.InfiniteTimeSpan ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellation))
            {
                timeout?.CancelAfter(_options.Timeout);
                try
                {
                    return await call(_transport, state, timeout?.Token ?? cancellation);
                }
                catch (OperationCanceledException e) when (timeout is { IsCancellationRequested: true } && !cancellation.IsCancellationRequested)
                {
                    Log.TimedOut(_logger, operation, _options.Timeout);
                    throw new FabrikException(FabrikErrorKind.DeadlineExceeded, $"{operation}: no answer within {_options.Timeout.TotalSeconds:0.###} s (FabrikClientOptions.Timeout)", e)
                    {
                        RequestId = requestId,
                    };
                }
                catch (FabrikException e) when (ShouldRetry(e, attempt, started, out delay))
                {
                    Log.Retrying(_logger, operation, attempt, _options.Retry!.MaxAttempts, delay.TotalMilliseconds, e.Message);
                }
                catch (FabrikException e)
                {
                    Log.Failed(_logger, operation, e.Kind, e.Message);
                    throw;
                }
            }
            await Task.Delay(delay, _time, cancellation);
        }
    }

    /// <summary>Whether to try again, and after how long: the server's Retry-After when it gave
    /// one (plus a little jitter), else the backoff; never past the attempts or the elapsed bound.</summary>
    private bool ShouldRetry(FabrikException error, int attempt, long started, out TimeSpan delay)
    {
        delay = TimeSpan.Zero;
        if (_options.Retry is not { } policy || !error.Retryable || attempt >= policy.MaxAttempts)
        {
            return false;
        }
        var backoff = Math.Min(policy.InitialBackoff.TotalMilliseconds * Math.Pow(2, attempt - 1), policy.MaxBackoff.TotalMilliseconds);
        delay = error.RetryAfter is { } after
            ? after + TimeSpan.FromMilliseconds(policy.InitialBackoff.TotalMilliseconds * policy.Jitter * Random.Shared.NextDouble())
            : TimeSpan.FromMilliseconds(backoff * (1 - policy.Jitter * Random.Shared.NextDouble()));
        return _time.GetElapsedTime(started) + delay <= policy.MaxElapsed;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Retrying {Operation} (attempt {Attempt} of {MaxAttempts} failed) in {DelayMilliseconds:0} ms: {Reason}")]
        public static partial void Retrying(ILogger logger, string operation, int attempt, int maxAttempts, double delayMilliseconds, string reason);

        [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "{Operation} failed ({Kind}): {Reason}")]
        public static partial void Failed(ILogger logger, string operation, FabrikErrorKind kind, string reason);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Operation} got no answer within {Timeout}")]
        public static partial void TimedOut(ILogger logger, string operation, TimeSpan timeout);
    }
}
