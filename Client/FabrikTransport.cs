namespace Fabrik.Client;

/// <summary>Which protocol a <see cref="FabrikClient"/> speaks for its calls.</summary>
public enum FabrikTransport
{
    /// <summary>KServe v2 over HTTP/REST (port 8000), JSON or the binary tensor extension.</summary>
    Http,

    /// <summary>KServe v2 over gRPC, <c>inference.GRPCInferenceService</c> (port 8001).</summary>
    Grpc,
}
