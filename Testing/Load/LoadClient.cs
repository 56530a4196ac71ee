namespace Fabrik.Testing.Load;

/// <summary>Which client library sends the load: <see cref="FabrikClient"/> (the default) or the
/// generator's own minimal clients (a prepared HTTP body, a prepared gRPC message), kept to
/// measure what the library costs against them (Benchmarks/client-cost.sh).</summary>
public enum LoadClient
{
    FabrikClient,
    Own,
}
