using System.Runtime.CompilerServices;
using Fabrik.Client.Protos;
using Google.Protobuf;
using Fabrik.Client.Wire;
using Grpc.Core;
using Grpc.Net.Client;

namespace Fabrik.Client.Grpc;

/// <summary>
/// KServe v2 over gRPC (<c>inference.GRPCInferenceService</c>) on one <see cref="GrpcChannel"/>
/// for the client's lifetime. The API key and the caller's trace context travel as metadata.
/// </summary>
internal sealed class GrpcInferenceTransport : IInferenceTransport
{
    private readonly GrpcChannel _channel;
    private readonly GRPCInferenceService.GRPCInferenceServiceClient _client;
    private readonly string? _authorization;
    private readonly TimeSpan _timeout;

    // The metadata of a call without trace context: the same for every call, so shared (never changed).
    private readonly Metadata _plain;

    public GrpcInferenceTransport(FabrikClientOptions options, HttpMessageHandler handler, bool disposeHandler)
    {
        _channel = GrpcChannel.ForAddress(options.GrpcAddress, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = disposeHandler,
            MaxReceiveMessageSize = options.MaxResponseBytes,
            ThrowOperationCanceledOnCancellation = true,
        });
        _client = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
        _authorization = options.ApiKey is { Length: > 0 } key ? "Bearer " + key : null;
        _timeout = options.Timeout;
        _plain = new Metadata();
        if (_authorization is not null)
        {
            _plain.Add("authorization", _authorization);
        }
    }

    public async Task<bool> IsLiveAsync(CancellationToken cancellation) =>
        (await UnaryAsync(_client.ServerLiveAsync(new ServerLiveRequest(), Options(cancellation)), "ServerLive", null)).Live;

    public async Task<bool> IsReadyAsync(CancellationToken cancellation) =>
        (await UnaryAsync(_client.ServerReadyAsync(new ServerReadyRequest(), Options(cancellation)), "ServerReady", null)).Ready;

    public async Task<bool> IsModelReadyAsync(string model, string? version, CancellationToken cancellation)
    {
        try
        {
            return (await UnaryAsync(_client.ModelReadyAsync(new ModelReadyRequest { Name = model, Version = version ?? "" }, Options(cancellation)), "ModelReady", null)).Ready;
        }
        catch (FabrikException e) when (e.Kind == FabrikErrorKind.NotFound)
        {
            // A model the server does not know is not ready, as over HTTP.
            return false;
        }
    }

    public async Task<ServerMetadata> GetServerMetadataAsync(CancellationToken cancellation)
    {
        var metadata = await UnaryAsync(_client.ServerMetadataAsync(new ServerMetadataRequest(), Options(cancellation)), "server metadata", null);
        return new ServerMetadata(metadata.Name, metadata.Version, [.. metadata.Extensions]);
    }

    public async Task<ModelMetadata> GetModelMetadataAsync(string model, string? version, CancellationToken cancellation)
    {
        var metadata = await UnaryAsync(_client.ModelMetadataAsync(new ModelMetadataRequest { Name = model, Version = version ?? "" }, Options(cancellation)), $"model metadata of '{model}'", null);
        return new ModelMetadata(metadata.Name, [.. metadata.Versions], metadata.Platform, Tensors(metadata.Inputs), Tensors(metadata.Outputs));
    }

    public async Task<ModelConfig> GetModelConfigAsync(string model, string? version, CancellationToken cancellation) =>
        (await UnaryAsync(_client.ModelConfigAsync(new ModelConfigRequest { Name = model, Version = version ?? "" }, Options(cancellation)), $"configuration of '{model}'", null)).Config
        ?? throw GrpcErrors.InvalidResponse($"the configuration of '{model}' came empty");

    public async Task<IReadOnlyList<ModelStatistics>> GetModelStatisticsAsync(string? model, string? version, CancellationToken cancellation) =>
        (await UnaryAsync(_client.ModelStatisticsAsync(new ModelStatisticsRequest { Name = model ?? "", Version = version ?? "" }, Options(cancellation)),
            model is null ? "statistics" : $"statistics of '{model}'", null)).ModelStats;

    public async Task<IReadOnlyList<RepositoryModel>> GetRepositoryIndexAsync(bool readyOnly, CancellationToken cancellation)
    {
        var index = await UnaryAsync(_client.RepositoryIndexAsync(new RepositoryIndexRequest { Ready = readyOnly }, Options(cancellation)), "repository index", null);
        return [.. index.Models.Select(row => new RepositoryModel(row.Name, NullIfEmpty(row.Version), NullIfEmpty(row.State), NullIfEmpty(row.Reason)))];
    }

    public Task LoadModelAsync(string model, CancellationToken cancellation) =>
        UnaryAsync(_client.RepositoryModelLoadAsync(new RepositoryModelLoadRequest { ModelName = model }, Options(cancellation)), $"loading model '{model}'", null);

    public Task UnloadModelAsync(string model, CancellationToken cancellation) =>
        UnaryAsync(_client.RepositoryModelUnloadAsync(new RepositoryModelUnloadRequest { ModelName = model }, Options(cancellation)), $"unloading model '{model}'", null);

    public async Task<InferResult> InferAsync(InferRequest request, CancellationToken cancellation)
    {
        var response = await UnaryAsync(_client.ModelInferAsync(GrpcInferenceCodec.Encode(request), Options(cancellation)), "inference", request.Id, request.ModelName);
        return GrpcInferenceCodec.Decode(response);
    }

    public Task RegisterSystemSharedMemoryAsync(string name, string key, long offset, long byteSize, CancellationToken cancellation) =>
        UnaryAsync(_client.SystemSharedMemoryRegisterAsync(new SystemSharedMemoryRegisterRequest { Name = name, Key = key, Offset = (ulong)offset, ByteSize = (ulong)byteSize }, Options(cancellation)),
            $"registering shared memory region '{name}'", null);

    public async Task<IReadOnlyList<SharedMemoryRegionStatus>> GetSystemSharedMemoryStatusAsync(string? name, CancellationToken cancellation)
    {
        var status = await UnaryAsync(_client.SystemSharedMemoryStatusAsync(new SystemSharedMemoryStatusRequest { Name = name ?? "" }, Options(cancellation)),
            name is null ? "shared memory status" : $"status of shared memory region '{name}'", null);
        return [.. status.Regions.Values.OrderBy(region => region.Name, StringComparer.Ordinal).Select(region => new SharedMemoryRegionStatus(
            region.Name, region.Key, ByteCount(region.Offset, "offset"), ByteCount(region.ByteSize, "byte_size")))];
    }

    public Task UnregisterSystemSharedMemoryAsync(string? name, CancellationToken cancellation) =>
        UnaryAsync(_client.SystemSharedMemoryUnregisterAsync(new SystemSharedMemoryUnregisterRequest { Name = name ?? "" }, Options(cancellation)),
            name is null ? "unregistering shared memory" : $"unregistering shared memory region '{name}'", null);

    public Task RegisterCudaSharedMemoryAsync(string name, ReadOnlyMemory<byte> rawHandle, long deviceId, long byteSize, CancellationToken cancellation) =>
        UnaryAsync(_client.CudaSharedMemoryRegisterAsync(
                new CudaSharedMemoryRegisterRequest { Name = name, RawHandle = ByteString.CopyFrom(rawHandle.Span), DeviceId = deviceId, ByteSize = (ulong)byteSize }, Options(cancellation)),
            $"registering CUDA shared memory region '{name}'", null);

    public async Task<IReadOnlyList<CudaSharedMemoryRegionStatus>> GetCudaSharedMemoryStatusAsync(string? name, CancellationToken cancellation)
    {
        var status = await UnaryAsync(_client.CudaSharedMemoryStatusAsync(new CudaSharedMemoryStatusRequest { Name = name ?? "" }, Options(cancellation)),
            name is null ? "CUDA shared memory status" : $"status of CUDA shared memory region '{name}'", null);
        return [.. status.Regions.Values.OrderBy(region => region.Name, StringComparer.Ordinal).Select(region => new CudaSharedMemoryRegionStatus(
            region.Name, ByteCount(region.DeviceId, "device_id"), ByteCount(region.ByteSize, "byte_size")))];
    }

    public Task UnregisterCudaSharedMemoryAsync(string? name, CancellationToken cancellation) =>
        UnaryAsync(_client.CudaSharedMemoryUnregisterAsync(new CudaSharedMemoryUnregisterRequest { Name = name ?? "" }, Options(cancellation)),
            name is null ? "unregistering CUDA shared memory" : $"unregistering CUDA shared memory region '{name}'", null);

    /// <summary>The bidirectional inference stream: requests are written as the caller's sequence
    /// yields them while answers are read; an error the server reports for one request comes as
    /// an error message and the stream goes on. Stopping early (or a failure on either side)
    /// cancels the call.</summary>
    public async IAsyncEnumerable<StreamInferResponse> StreamAsync(IAsyncEnumerable<InferRequest> requests, [EnumeratorCancellation] CancellationToken cancellation)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var call = _client.ModelStreamInfer(Options(stop.Token, stream: true));
        var writing = WriteAllAsync(call.RequestStream, requests, stop);
        try
        {
            while (await NextAsync(call.ResponseStream, writing, stop.Token, cancellation))
            {
                var message = call.ResponseStream.Current;
                yield return message.ErrorMessage.Length > 0
                    ? new StreamInferResponse(GrpcErrors.FromStreamMessage(message.ErrorMessage, NullIfEmpty(message.InferResponse?.Id)))
                    : new StreamInferResponse(GrpcInferenceCodec.Decode(message.InferResponse ?? throw GrpcErrors.InvalidResponse("a stream message holds neither a response nor an error")));
            }
            await writing;
        }
        finally
        {
            await stop.CancelAsync();
            await writing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public void Dispose() => _channel.Dispose();

    /// <summary>Writes every request, then closes the request side. A failure (the caller's
    /// sequence throwing, the call breaking) cancels the call, so the reader does not wait on
    /// answers that cannot come.</summary>
    private static async Task WriteAllAsync(IClientStreamWriter<ModelInferRequest> stream, IAsyncEnumerable<InferRequest> requests, CancellationTokenSource stop)
    {
        try
        {
            await foreach (var request in requests.WithCancellation(stop.Token))
            {
                await stream.WriteAsync(GrpcInferenceCodec.Encode(request), stop.Token);
            }
            await stream.CompleteAsync();
        }
        catch (RpcException e)
        {
            await stop.CancelAsync();
            throw GrpcErrors.FromRpc(e, "the inference stream", null);
        }
        catch (Exception) when (!stop.IsCancellationRequested)
        {
            await stop.CancelAsync();
            throw;
        }
    }

    /// <summary>The next answer; a failure of the request side is thrown here in place of the
    /// cancellation it caused.</summary>
    private static async Task<bool> NextAsync(IAsyncStreamReader<ModelStreamInferResponse> stream, Task writing, CancellationToken cancellation, CancellationToken caller)
    {
        try
        {
            return await stream.MoveNext(cancellation);
        }
        catch (Exception) when (cancellation.IsCancellationRequested && !caller.IsCancellationRequested)
        {
            // Only a failed request side cancels the call while the caller has not, and the reader
            // then fails in whichever way the cancellation reached it first (a cancelled read, a
            // cancelled call, a completed reader): the request side's error is the stream's.
            await writing;
            throw;
        }
        catch (RpcException e)
        {
            throw GrpcErrors.FromRpc(e, "the inference stream", null);
        }
    }

    /// <summary>Awaits a call; a failure becomes a <see cref="FabrikException"/> naming the
    /// operation (and the model, put together only on failure).</summary>
    private static async Task<T> UnaryAsync<T>(AsyncUnaryCall<T> call, string operation, string? requestId, string? model = null)
    {
        using (call)
        {
            try
            {
                return await call.ResponseAsync;
            }
            catch (RpcException e)
            {
                throw GrpcErrors.FromRpc(e, model is null ? operation : $"{operation} on '{model}'", requestId);
            }
        }
    }

    /// <summary>The call's metadata (the API key, and the caller's trace context when there is
    /// one) and, but for the stream, the deadline the options' timeout gives, which the server
    /// is told (grpc-timeout) so that it too can stop waiting.</summary>
    private CallOptions Options(CancellationToken cancellation, bool stream = false)
    {
        DateTime? deadline = stream || _timeout == Timeout.InfiniteTimeSpan ? null : DateTime.UtcNow + _timeout;
        if (!TraceContext.TryGet(out var traceParent, out var traceState))
        {
            return new CallOptions(_plain, deadline, cancellation);
        }
        var headers = new Metadata { { TraceContext.TraceParent, traceParent } };
        if (traceState is { Length: > 0 })
        {
            headers.Add(TraceContext.TraceState, traceState);
        }
        if (_authorization is not null)
        {
            headers.Add("authorization", _authorization);
        }
        return new CallOptions(headers, deadline, cancellation);
    }

    private static TensorMetadata[] Tensors(IEnumerable<ModelMetadataResponse.Types.TensorMetadata> tensors) =>
        [.. tensors.Select(tensor => new TensorMetadata(tensor.Name, tensor.Datatype, [.. tensor.Shape]))];

    private static long ByteCount(ulong value, string field) =>
        value <= long.MaxValue ? (long)value : throw GrpcErrors.InvalidResponse($"a region's {field} is {value}, past any object's size");

    private static string? NullIfEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;
}
