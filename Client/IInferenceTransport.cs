using Fabrik.Client.Protos;

namespace Fabrik.Client;

/// <summary>
/// One protocol's way of making each call (HTTP in <c>Http/</c>, gRPC in <c>Grpc/</c>).
/// <see cref="FabrikClient"/> adds what both share around it: timeouts, retries and logging.
/// Implementations throw <see cref="FabrikException"/> for a server's refusal, an unreachable
/// server or an unreadable answer, and <see cref="OperationCanceledException"/> when the token fires.
/// They are safe for concurrent calls.
/// </summary>
internal interface IInferenceTransport : IDisposable
{
    Task<bool> IsLiveAsync(CancellationToken cancellation);

    Task<bool> IsReadyAsync(CancellationToken cancellation);

    Task<bool> IsModelReadyAsync(string model, string? version, CancellationToken cancellation);

    Task<ServerMetadata> GetServerMetadataAsync(CancellationToken cancellation);

    Task<ModelMetadata> GetModelMetadataAsync(string model, string? version, CancellationToken cancellation);

    Task<ModelConfig> GetModelConfigAsync(string model, string? version, CancellationToken cancellation);

    Task<IReadOnlyList<ModelStatistics>> GetModelStatisticsAsync(string? model, string? version, CancellationToken cancellation);

    Task<IReadOnlyList<RepositoryModel>> GetRepositoryIndexAsync(bool readyOnly, CancellationToken cancellation);

    Task LoadModelAsync(string model, CancellationToken cancellation);

    Task UnloadModelAsync(string model, CancellationToken cancellation);

    Task<InferResult> InferAsync(InferRequest request, CancellationToken cancellation);

    Task RegisterSystemSharedMemoryAsync(string name, string key, long offset, long byteSize, CancellationToken cancellation);

    Task<IReadOnlyList<SharedMemoryRegionStatus>> GetSystemSharedMemoryStatusAsync(string? name, CancellationToken cancellation);

    Task UnregisterSystemSharedMemoryAsync(string? name, CancellationToken cancellation);

    Task RegisterCudaSharedMemoryAsync(string name, ReadOnlyMemory<byte> rawHandle, long deviceId, long byteSize, CancellationToken cancellation);

    Task<IReadOnlyList<CudaSharedMemoryRegionStatus>> GetCudaSharedMemoryStatusAsync(string? name, CancellationToken cancellation);

    Task UnregisterCudaSharedMemoryAsync(string? name, CancellationToken cancellation);
}
