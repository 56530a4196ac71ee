using Fabrik.Models;
using Fabrik.Protocol.Grpc.HealthCheck;
using Grpc.Core;

namespace Fabrik.Protocol.Grpc;

/// <summary><c>grpc.health.v1.Health/Check</c>: SERVING when the server is live and every model is
/// ready. The overall server ("") and the inference service can be asked about.</summary>
internal sealed class GrpcHealthService(ModelManager models) : Health.HealthBase
{
    private const string InferenceService = "inference.GRPCInferenceService";

    public override Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context)
    {
        if (request.Service.Length > 0 && request.Service != InferenceService)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"unknown service '{request.Service}'"));
        }
        var serving = models.AllModelsReady;
        return Task.FromResult(new HealthCheckResponse
        {
            Status = serving ? HealthCheckResponse.Types.ServingStatus.Serving : HealthCheckResponse.Types.ServingStatus.NotServing,
        });
    }
}
