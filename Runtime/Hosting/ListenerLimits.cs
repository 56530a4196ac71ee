using System.Globalization;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Fabrik.Hosting;

/// <summary>
/// The listeners' limits, explicit and configurable, with the defaults documented in
/// docs/security.md: connections, header size and time (slowloris), the slowest body a client
/// may send, HTTP/2 streams, keep-alive and the largest gRPC reply.
/// </summary>
internal sealed record ListenerLimits
{
    /// <summary>--http-max-connections: open connections per listener (0: no limit).</summary>
    public long MaxConnections { get; init; } = 4096;

    /// <summary>--http-max-header-size: all request headers together, in bytes.</summary>
    public int MaxHeaderBytes { get; init; } = 32 * 1024;

    /// <summary>--http-headers-timeout-secs: a client must send its whole header block in this time.</summary>
    public int HeadersTimeoutSeconds { get; init; } = 30;

    /// <summary>--http-min-request-data-rate: bytes per second a body must keep up after a 5-second grace (0: off).</summary>
    public double MinRequestDataRate { get; init; } = 240;

    /// <summary>--http2-max-streams: concurrent streams per HTTP/2 connection (gRPC).</summary>
    public int MaxStreamsPerConnection { get; init; } = 100;

    /// <summary>--http-keepalive-timeout-secs: an idle connection is closed after this.</summary>
    public int KeepAliveTimeoutSeconds { get; init; } = 130;

    /// <summary>--grpc-max-send-size: the largest gRPC reply in bytes (0: no limit, Triton's behaviour).</summary>
    public int GrpcMaxSendBytes { get; init; }

    public static bool Owns(string name) => name is "http-max-connections" or "http-max-header-size" or "http-headers-timeout-secs"
        or "http-min-request-data-rate" or "http2-max-streams" or "http-keepalive-timeout-secs" or "grpc-max-send-size";

    /// <summary>Applies one flag.</summary>
    /// <exception cref="ArgumentException">The value is not a number in range.</exception>
    public ListenerLimits With(string name, string value) => name switch
    {
        "http-max-connections" => this with { MaxConnections = Number(name, value, 0, long.MaxValue) },
        "http-max-header-size" => this with { MaxHeaderBytes = (int)Number(name, value, 1024, int.MaxValue) },
        "http-headers-timeout-secs" => this with { HeadersTimeoutSeconds = (int)Number(name, value, 1, 3600) },
        "http-min-request-data-rate" => this with { MinRequestDataRate = Number(name, value, 0, int.MaxValue) },
        "http2-max-streams" => this with { MaxStreamsPerConnection = (int)Number(name, value, 1, int.MaxValue) },
        "http-keepalive-timeout-secs" => this with { KeepAliveTimeoutSeconds = (int)Number(name, value, 1, 86400) },
        "grpc-max-send-size" => this with { GrpcMaxSendBytes = (int)Number(name, value, 0, int.MaxValue) },
        _ => throw new ArgumentException($"unknown option '--{name}'"),
    };

    /// <summary>Sets the limits on Kestrel (every listener).</summary>
    public void Apply(KestrelServerLimits limits)
    {
        limits.MaxConcurrentConnections = MaxConnections == 0 ? null : MaxConnections;
        limits.MaxConcurrentUpgradedConnections = MaxConnections == 0 ? null : MaxConnections;
        limits.MaxRequestHeadersTotalSize = MaxHeaderBytes;
        limits.RequestHeadersTimeout = TimeSpan.FromSeconds(HeadersTimeoutSeconds);
        limits.MinRequestBodyDataRate = MinRequestDataRate == 0 ? null : new MinDataRate(MinRequestDataRate, TimeSpan.FromSeconds(5));
        limits.Http2.MaxStreamsPerConnection = MaxStreamsPerConnection;
        limits.KeepAliveTimeout = TimeSpan.FromSeconds(KeepAliveTimeoutSeconds);
    }

    private static long Number(string name, string text, long minimum, long maximum) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= minimum && value <= maximum
            ? value
            : throw new ArgumentException($"option --{name} takes an integer from {minimum} to {maximum}, got '{text}'");
}
