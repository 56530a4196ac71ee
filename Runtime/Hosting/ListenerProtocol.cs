namespace Fabrik.Hosting;

/// <summary>What a main-application listener serves (see <see cref="ListenerSeparation"/>).</summary>
internal enum ListenerProtocol
{
    /// <summary>--http-port: the KServe v2 REST API.</summary>
    Http,

    /// <summary>--grpc-port: the Triton gRPC inference service and the gRPC health service.</summary>
    Grpc,
}
