using Fabrik.Client;
using Fabrik.Client.Protos;

namespace Fabrik.Testing.Load;

/// <summary>
/// The load generator's requests sent through <see cref="FabrikClient"/>: the same payload as the
/// generator's own clients (<see cref="InferenceClients"/>), over HTTP JSON, HTTP binary or gRPC,
/// through the same connection handler (TLS trust, -H headers), so that an A/B of the two
/// measures the library alone. One prepared <see cref="InferRequest"/> is sent by every worker.
/// With <c>--shared-memory system|cuda</c> the inputs are placed once in one region that every
/// request names (<see cref="InputRegion"/>); outputs still come back in the answer.
/// </summary>
internal sealed class FabrikClientLoad : IInferenceClient
{
    private readonly FabrikClient _client;
    private readonly HttpMessageHandler _handler;
    private readonly string _model;
    private readonly InferRequest _request;
    private readonly InputRegion? _region;

    private FabrikClientLoad(FabrikClient client, HttpMessageHandler handler, string model, InferRequest request, InputRegion? region)
    {
        _client = client;
        _handler = handler;
        _model = model;
        _request = request;
        _region = region;
    }

    public static async Task<IInferenceClient> CreateAsync(LoadOptions options, Uri address, CancellationToken cancellation)
    {
        var handler = InferenceClients.Handler(options);
        var client = new FabrikClient(new FabrikClientOptions
        {
            Transport = options.Protocol == LoadProtocol.Grpc ? FabrikTransport.Grpc : FabrikTransport.Http,
            HttpAddress = address,
            GrpcAddress = address,
            HttpTensorFormat = options.Protocol == LoadProtocol.HttpJson ? HttpTensorFormat.Json : HttpTensorFormat.Binary,
            HttpHandler = handler,
            // The own HTTP client's timeout, so that both wait alike.
            Timeout = TimeSpan.FromSeconds(60),
        });
        try
        {
            var metadata = await client.GetModelMetadataAsync(options.Model, cancellationToken: cancellation);
            var tensors = metadata.Inputs.Select(input => (
                Payload: InferenceClients.Tensor(input.Name, input.Datatype, input.Shape, options.BatchSize),
                Datatype: input.DataType ?? throw new InvalidOperationException($"input '{input.Name}' of '{options.Model}' has datatype '{input.Datatype}', which the protocol does not define"))).ToList();
            var request = new InferRequest(options.Model);
            if (options.SharedMemory == LoadSharedMemory.None)
            {
                foreach (var (payload, datatype) in tensors)
                {
                    request.Inputs.Add(InferInput.CreateRaw(payload.Name, datatype, payload.Raw, payload.Shape));
                }
                return new FabrikClientLoad(client, handler, options.Model, request, null);
            }
            var (region, offsets) = await InputRegion.CreateAsync(client, options.SharedMemory, [.. tensors.Select(tensor => tensor.Payload.Raw)], cancellation);
            for (var i = 0; i < tensors.Count; i++)
            {
                var (payload, datatype) = tensors[i];
                request.Inputs.Add(InferInput.CreateInSharedMemory(payload.Name, datatype, new SharedMemoryRange(region.Name, payload.Raw.Length, offsets[i]), payload.Shape));
            }
            return new FabrikClientLoad(client, handler, options.Model, request, region);
        }
        catch
        {
            client.Dispose();
            handler.Dispose();
            throw;
        }
    }

    public async Task InferAsync(CancellationToken cancellation)
    {
        using var result = await _client.InferAsync(_request, cancellation);
    }

    public async Task<ServerCounters> CountersAsync(CancellationToken cancellation)
    {
        IReadOnlyList<ModelStatistics> statistics;
        try
        {
            statistics = await _client.GetModelStatisticsAsync(_model, cancellationToken: cancellation);
        }
        catch (FabrikException)
        {
            // Servers without the statistics extension (the comparison peers) report zeros.
            return new ServerCounters(0, 0, 0, 0, 0);
        }
        long Sum(Func<InferStatistics, ulong> field) => statistics.Sum(s => (long)field(s.InferenceStats));
        return new ServerCounters(Sum(s => s.Success.Count), Sum(s => s.Queue.Ns), Sum(s => s.ComputeInput.Ns), Sum(s => s.ComputeInfer.Ns), Sum(s => s.ComputeOutput.Ns));
    }

    public void Dispose()
    {
        _region?.Dispose();
        _client.Dispose();
        _handler.Dispose();
    }
}
