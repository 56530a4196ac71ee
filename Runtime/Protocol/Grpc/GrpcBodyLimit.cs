using Microsoft.AspNetCore.Http.Metadata;

namespace Fabrik.Protocol.Grpc;

/// <summary>
/// Endpoint metadata for the gRPC services: Kestrel's request body limit does not apply to them.
/// Kestrel would count each message's 5-byte frame prefix, so a message a few bytes under
/// <c>--http-max-input-size</c> failed with UNKNOWN while the body was read. The same limit holds
/// per message instead (gRPC's MaxReceiveMessageSize), which reads the prefix first and refuses a
/// larger message with RESOURCE_EXHAUSTED before reading it; streaming calls were never under
/// the body limit.
/// </summary>
internal sealed class GrpcBodyLimit : IRequestSizeLimitMetadata
{
    /// <summary>The one instance the services are mapped with.</summary>
    public static readonly GrpcBodyLimit PerMessage = new();

    private GrpcBodyLimit()
    {
    }

    /// <summary>No limit on the whole body: the per-message limit governs.</summary>
    public long? MaxRequestBodySize => null;
}
