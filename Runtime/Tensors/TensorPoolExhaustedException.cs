namespace Fabrik.Tensors;

/// <summary>The tensor pool would pass its byte limit (--pinned-memory-pool-byte-size) if it
/// allocated the array asked for. Request paths answer it as overloaded (HTTP 503 with
/// Retry-After, gRPC UNAVAILABLE): the request is valid, the server has no room now.</summary>
internal sealed class TensorPoolExhaustedException(long requested, long limit)
    : Exception($"the tensor memory pool cannot hold another {requested} bytes within its {limit}-byte limit (--pinned-memory-pool-byte-size); retry later")
{
}
