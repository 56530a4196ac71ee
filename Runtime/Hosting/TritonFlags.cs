using System.Collections.Frozen;

namespace Fabrik.Hosting;

/// <summary>
/// The tritonserver flags that <see cref="ServerOptions"/> does not implement. A Triton command
/// line must start Fabrik, so each of these is accepted: one that changes nothing here adds one
/// warning line (logged at start) that says why, and one that asks for protection this build does
/// not give is refused, because serving in the clear when TLS or an API restriction was asked for
/// would be worse than not starting. Flags <see cref="ServerOptions.Parse"/> implements never get here.
/// </summary>
internal static partial class TritonFlags
{
    private static readonly FrozenDictionary<string, string> WithoutEffect = new Dictionary<string, string>
    {
        ["backend-config"] = "the ONNX Runtime and TorchScript backends are built in and take their settings from config.pbtxt",
        ["backend-directory"] = "the backends are built in",
        ["repoagent-directory"] = "repository agents are not supported",
        ["cache-directory"] = "the local response cache is built in, and no other cache is loaded",
        ["http-thread-count"] = "Kestrel sizes its own thread pool",
        ["reuse-http-port"] = "ports are not shared between processes",
        ["reuse-grpc-port"] = "ports are not shared between processes",
        ["http-header-forward-pattern"] = "headers are not forwarded as request parameters",
        ["grpc-header-forward-pattern"] = "headers are not forwarded as request parameters",
        ["grpc-infer-allocation-pool-size"] = "gRPC tensors come from the shared tensor pool",
        ["grpc-max-response-pool-size"] = "gRPC tensors come from the shared tensor pool",
        ["grpc-infer-response-compression-level"] = "responses are not compressed",
        ["grpc-keepalive-time"] = "Kestrel's HTTP/2 keep-alive defaults apply",
        ["grpc-keepalive-timeout"] = "Kestrel's HTTP/2 keep-alive defaults apply",
        ["grpc-keepalive-permit-without-calls"] = "Kestrel's HTTP/2 keep-alive defaults apply",
        ["grpc-http2-max-pings-without-data"] = "Kestrel's HTTP/2 keep-alive defaults apply",
        ["grpc-http2-min-recv-ping-interval-without-data"] = "Kestrel's HTTP/2 keep-alive defaults apply",
        ["grpc-http2-max-ping-strikes"] = "Kestrel's HTTP/2 keep-alive defaults apply",
        ["grpc-max-connection-age"] = "connections are not aged out",
        ["grpc-max-connection-age-grace"] = "connections are not aged out",
        ["rate-limit"] = "there is no rate limiter; each model's instances take requests as they free up",
        ["rate-limit-resource"] = "there is no rate limiter",
        ["cuda-memory-pool-byte-size"] = "ONNX Runtime and libtorch manage pinned and device memory themselves",
        ["cuda-virtual-address-size"] = "ONNX Runtime and libtorch manage pinned and device memory themselves",
        ["min-supported-compute-capability"] = "every GPU the backends accept is used",
        ["buffer-manager-thread-count"] = "tensor copies run on the request's own thread",
        ["host-policy"] = "host policies (NUMA node, CPU cores) are not applied; use numactl or taskset",
        ["model-load-retry-count"] = "a failed load is not retried",
        ["model-load-gpu-limit"] = "loads are not limited by GPU memory use",
        ["model-namespacing"] = "model names are unique across repositories",
        ["trace-file"] = "Triton's older trace flags are not read; use --trace-config",
        ["trace-level"] = "Triton's older trace flags are not read; use --trace-config",
        ["trace-rate"] = "Triton's older trace flags are not read; use --trace-config",
        ["trace-count"] = "Triton's older trace flags are not read; use --trace-config",
        ["trace-log-frequency"] = "Triton's older trace flags are not read; use --trace-config",
        ["allow-sagemaker"] = "there is no SageMaker endpoint",
        ["sagemaker-port"] = "there is no SageMaker endpoint",
        ["sagemaker-safe-port-range"] = "there is no SageMaker endpoint",
        ["sagemaker-thread-count"] = "there is no SageMaker endpoint",
        ["allow-vertex-ai"] = "there is no Vertex AI endpoint",
        ["vertex-ai-port"] = "there is no Vertex AI endpoint",
        ["vertex-ai-thread-count"] = "there is no Vertex AI endpoint",
        ["vertex-ai-default-model"] = "there is no Vertex AI endpoint",
    }.ToFrozenDictionary(StringComparer.Ordinal);


    /// <summary>Every flag this class accepts (for tests and --help).</summary>
    public static IEnumerable<string> Names => WithoutEffect.Keys;

    /// <summary>Accepts tritonserver flag <paramref name="name"/> (given without its dashes) that
    /// Fabrik does not implement, adding its warning once.</summary>
    /// <exception cref="ArgumentException">Not a tritonserver flag.</exception>
    public static ServerOptions Accept(ServerOptions options, string name, string? value)
    {
        if (!WithoutEffect.TryGetValue(name, out var reason))
        {
            throw new ArgumentException($"unknown option '--{name}'; run with --help for the options");
        }
        var warning = $"--{name} has no effect here: {reason}";
        return options.FlagWarnings.Contains(warning) ? options : options with { FlagWarnings = [.. options.FlagWarnings, warning] };
    }

    /// <summary>Logs each accepted flag's warning, once.</summary>
    public static void LogWarnings(ILogger logger, ServerOptions options)
    {
        foreach (var warning in options.FlagWarnings)
        {
            Log.FlagWithoutEffect(logger, warning);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "{Warning}")]
        public static partial void FlagWithoutEffect(ILogger logger, string warning);
    }
}
