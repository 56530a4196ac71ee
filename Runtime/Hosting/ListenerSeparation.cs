using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Fabrik.Hosting;

/// <summary>
/// Each listener serves only its own protocol: the HTTP port the KServe v2 REST routes, the gRPC
/// port the gRPC services (inference and health). Both protocols are mapped on one application,
/// so a connection middleware stamps every connection with the listener that accepted it, and a
/// request for the other protocol's routes is answered 404 before any access check runs. The stamp
/// travels with the connection, not its port, so it holds with port 0 and whatever the addresses.
/// The metrics port is an application of its own (<see cref="MetricsEndpoint"/>) and maps only /metrics.
/// </summary>
/// <remarks>The in-memory host (tests, benchmarks) has no listeners: its requests carry no stamp
/// and reach both protocols, as a client of either port would.</remarks>
internal static class ListenerSeparation
{
    /// <summary>Stamps the connections a listener accepts with its protocol (call before TLS is added).</summary>
    public static void Mark(ListenOptions listen, ListenerProtocol protocol)
    {
        var feature = new ListenerFeature(protocol);
        listen.Use(next => connection =>
        {
            connection.Features.Set(feature);
            return next(connection);
        });
    }

    /// <summary>Answers 404 to a request for a route the accepting listener does not serve (after
    /// routing, which the host runs first, so the matched endpoint is known).</summary>
    public static void Use(WebApplication app) => app.Use(static (context, next) =>
    {
        var listener = context.Features.Get<ListenerFeature>();
        if (listener is null || Serves(listener.Protocol, context))
        {
            return next(context);
        }
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    });

    private static bool Serves(ListenerProtocol protocol, HttpContext context)
    {
        var grpcMethod = context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>() is not null;
        return protocol switch
        {
            // gRPC methods only; an unknown method gets 404, which a gRPC client reads as UNIMPLEMENTED.
            ListenerProtocol.Grpc => grpcMethod,
            // REST only: no gRPC method, and no gRPC call to a method that is not there either.
            _ => !grpcMethod && !(context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) ?? false),
        };
    }

    /// <summary>The connection feature naming the listener (one shared instance per listener).</summary>
    private sealed record ListenerFeature(ListenerProtocol Protocol);
}
