using System.Globalization;
using System.Net;
using Fabrik.Observability.Logging;
using Fabrik.Observability.Metrics;
using Fabrik.Observability.Tracing;

namespace Fabrik.Hosting;

/// <summary>Server settings from the command line. Flag names follow tritonserver's.</summary>
internal sealed record ServerOptions
{
    /// <summary>Model repositories (--model-repository, repeatable).</summary>
    public IReadOnlyList<string> ModelRepositories { get; init; } = ["./models"];

    public bool AllowHttp { get; init; } = true;

    public IPAddress HttpAddress { get; init; } = IPAddress.Loopback;

    /// <summary>HTTP port; 0 picks a free one (the chosen port is logged).</summary>
    public int HttpPort { get; init; } = 8000;

    public bool AllowGrpc { get; init; } = true;

    public IPAddress GrpcAddress { get; init; } = IPAddress.Loopback;

    public int GrpcPort { get; init; } = 8001;

    public bool AllowMetrics { get; init; } = true;

    public IPAddress MetricsAddress { get; init; } = IPAddress.Loopback;

    public int MetricsPort { get; init; } = 8002;

    /// <summary>--allow-gpu-metrics, --allow-cpu-metrics, --metrics-interval-ms, --metrics-config.</summary>
    public MetricsSettings Metrics { get; init; } = new();

    /// <summary>--log-format, --log-info/--log-warning/--log-error, --log-file, --log-access.</summary>
    public LogSettings Logging { get; init; } = new();

    /// <summary>--trace-config (Triton's trace file or OpenTelemetry).</summary>
    public TraceSettings Tracing { get; init; } = new();

    /// <summary>Largest request body in bytes (--http-max-input-size; Triton's default is 64 MB).</summary>
    public long HttpMaxInputSize { get; init; } = 64L * 1024 * 1024;

    /// <summary>Seconds to let in-flight work finish on shutdown (--exit-timeout-secs).</summary>
    public int ExitTimeoutSeconds { get; init; } = 30;

    /// <summary>Verbose logging level (--log-verbose); 0 is off.</summary>
    public int LogVerbose { get; init; }

    /// <summary>--model-control-mode: none (load all at start), poll, or explicit.</summary>
    public Models.ModelControlMode ModelControlMode { get; init; } = Models.ModelControlMode.None;

    /// <summary>--load-model (repeatable; "*" for all): the models explicit mode loads at start.</summary>
    public IReadOnlyList<string> LoadModels { get; init; } = [];

    /// <summary>--repository-poll-secs: how often poll mode rescans the repositories.</summary>
    public int RepositoryPollSeconds { get; init; } = 15;

    /// <summary>False with --disable-auto-complete-config.</summary>
    public bool AutoCompleteConfig { get; init; } = true;

    /// <summary>--strict-readiness: ready only when every model is READY (default), otherwise
    /// ready once the server is up.</summary>
    public bool StrictReadiness { get; init; } = true;

    /// <summary>--exit-on-error: a model that fails to load at start-up stops the server with a
    /// non-zero exit (Triton's default); false keeps serving the others.</summary>
    public bool ExitOnError { get; init; } = true;

    /// <summary>--id: the server name that GET /v2 and gRPC ServerMetadata report.</summary>
    public string Id { get; init; } = "fabrik";

    /// <summary>--model-load-thread-count: how many models load at once at start (Triton's default 4).</summary>
    public int ModelLoadThreadCount { get; init; } = 4;

    /// <summary>One line for each accepted tritonserver flag that changes nothing here (logged at start).</summary>
    public IReadOnlyList<string> FlagWarnings { get; init; } = [];
    /// <summary>--watchdog-secs: liveness turns false once a model run has been in progress this
    /// long (the backend is taken to be wedged, so an orchestrator restarts the process); 0 turns
    /// the watchdog off.</summary>
    public int WatchdogSeconds { get; init; } = 600;

    /// <summary>--pinned-memory-pool-byte-size: most bytes of tensor memory the pool may hold at
    /// once; a request that would pass it gets 503 / UNAVAILABLE. 0 (the default) for no limit.</summary>
    public long PinnedMemoryPoolByteSize { get; init; }
    /// <summary>TLS, API keys, audit and signed models (see docs/security.md).</summary>
    public Fabrik.Security.SecuritySettings Security { get; init; } = new();

    /// <summary>Connection, header, body-rate and stream limits of the listeners.</summary>
    public ListenerLimits Limits { get; init; } = new();

    /// <summary>--clear-buffers: pooled tensor buffers are zeroed when returned, and so are the
    /// response cache's entries when they leave it. Default: true.</summary>
    public bool ClearBuffers { get; init; } = true;

    /// <summary>--cache-config (and Triton's older --response-cache-byte-size): the response cache.</summary>
    public Fabrik.Caching.ResponseCacheSettings ResponseCache { get; init; } = new();
    /// <summary>--allow-shared-memory and the shared-memory limits (see docs/shared-memory.md).</summary>
    public Fabrik.Protocol.SharedMemory.SharedMemorySettings SharedMemory { get; init; } = new();

    /// <summary>The --help text.</summary>
    public const string Usage = """
        Usage: fabrik [options]
               fabrik devices      list the GPUs Fabrik sees (or "no GPU" and why)
               fabrik probe [url]  exit 0 when url (default http://127.0.0.1:8000/v2/health/ready) answers 200
               fabrik model sign --key PRIVATE.pem <model>/<version>
               fabrik model verify --trust-key PUBLIC.pem <model>/<version>
               fabrik audit verify <audit log>

        Serves the models of a Triton-style model repository over the KServe v2 protocol.

        Options (tritonserver's names; --flag=value or --flag value):
          --model-repository=<path>   Model repository; repeatable. Default: ./models
          --http-port=<port>          HTTP port. Default: 8000 (0 picks a free port)
          --http-address=<ip>         HTTP bind address. Default: 127.0.0.1
          --grpc-port=<port>          gRPC port. Default: 8001
          --grpc-address=<ip>         gRPC bind address. Default: 127.0.0.1
          --metrics-port=<port>       Metrics port. Default: 8002
          --metrics-address=<ip>      Metrics bind address. Default: 127.0.0.1
          --allow-http=<bool>         Serve HTTP. Default: true
          --allow-grpc=<bool>         Serve gRPC. Default: true
          --allow-metrics=<bool>      Serve metrics. Default: true
          --allow-gpu-metrics=<bool>  Report GPU metrics (NVML). Default: true
          --allow-cpu-metrics=<bool>  Report CPU and memory metrics. Default: true
          --metrics-interval-ms=<n>   How often GPU and CPU metrics are sampled. Default: 2000
          --metrics-config=<k>=<v>    counter_latencies, histogram_latencies, summary_latencies,
                                      summary_quantiles=q:e,..., histogram_buckets=s,s,... (seconds); repeatable;
                                      a key or value that is not understood is logged and changes nothing
          --trace-config=<k>=<v>      Traces: mode=triton|opentelemetry (default triton), rate=N, level=TIMESTAMPS|OFF,
                                      triton,file=PATH, opentelemetry,url=host:port/v1/traces,
                                      opentelemetry,resource=key=value; repeatable
          --http-max-input-size=<n>   Largest request body in bytes. Default: 67108864
          --exit-timeout-secs=<n>     Seconds allowed for in-flight work at shutdown. Default: 30
          --log-verbose=<n>           Verbose logging when n > 0. Default: 0
          --log-info=<bool>           Log information messages. Default: true
          --log-warning=<bool>        Log warnings. Default: true
          --log-error=<bool>          Log errors. Default: true
          --log-format=<f>            default, ISO8601 or json. Default: default
          --log-file=<path>           Write the log to this file instead of the console (set at start only)
          --log-access=<bool>         One line per request: id, method, route, model, status, bytes, latency. Default: false
          --model-control-mode=<m>    none (load all at start), poll or explicit. Default: none
          --load-model=<name>         Explicit mode: load this model at start; repeatable, * for all
          --repository-poll-secs=<n>  Poll mode: seconds between repository scans. Default: 15
          --disable-auto-complete-config  Do not fill in configuration from the model files
          --strict-readiness=<bool>   Ready only when every model is ready. Default: true
          --strict-model-config=<bool>  true: same as --disable-auto-complete-config. Default: false
          --exit-on-error=<bool>      Exit non-zero when a model fails to load at start. Default: true
          --model-load-thread-count=<n>  Models loaded at once at start. Default: 4
          --id=<name>                 Server name reported by GET /v2. Default: fabrik
          --watchdog-secs=<n>         Liveness turns false when a run has lasted n seconds (0: off).
                                      Default: 600
          --pinned-memory-pool-byte-size=<n>  Most bytes of tensor memory held at once; past it,
                                      requests get 503 / UNAVAILABLE. Default: 0 (no limit)
          --http-tls-cert=<pem> --http-tls-key=<pem>   HTTPS on the HTTP port (TLS 1.2+)
          --http-tls-client-ca=<pem>  HTTP: require client certificates from this CA (mutual TLS)
          --grpc-use-ssl=<bool> --grpc-server-cert=<pem> --grpc-server-key=<pem>   TLS on gRPC
          --grpc-use-ssl-mutual=<bool> --grpc-root-cert=<pem>   gRPC: mutual TLS with this CA
          --http-tls-client-crl=<pem> --grpc-client-crl=<pem> --metrics-tls-client-crl=<pem>
                                      Refuse client certificates revoked by these CRLs (offline); reload on change
          --auth-keys=<file>          API keys and scopes (JSON, SHA-256 hashes); reloads on change
          --auth-health=<bool>        Health endpoints need a key too. Default: false
          --audit-log=<file>          Hash-chained JSON Lines audit log (fabrik audit verify <file>)
          --audit-log-max-size=<n>    Rotate the audit log at n bytes, keeping the chain (0: never). Default: 104857600
          --audit-log-max-files=<n>   Keep n rotated audit files, deleting older ones at rotation (0: all). Default: 0
          --audit-inference=<bool>    One audit record per inference. Default: false
          --usage-log=<file>          Tenants' usage, hash-chained JSON Lines every minute and at stop (fabrik usage verify|report)
          --metrics-tls-cert=<pem> --metrics-tls-key=<pem> (--metrics-tls-client-ca=<pem>)   TLS on metrics
          --model-trust-key=<pem>     Only load model versions signed by this key; repeatable
          --http-restricted-api=<apis>:<header>=<value>     Triton's header restriction (HTTP)
          --grpc-restricted-protocol=<apis>:<header>=<value> Triton's header restriction (gRPC)
          --clear-buffers=<bool>      Zero pooled tensor buffers when returned, and cached responses
                                      when evicted. Default: true
          --cache-config=local,size=<n>  A response cache of n bytes for the models whose config.pbtxt
                                      sets response_cache { enable: true }; repeatable. Other caches
                                      are accepted with a warning and not used. Default: none
          --allow-shared-memory=<bool>  Triton's system shared-memory extension, for loopback clients
                                      only (--allow-client-shm is the same). Default: false
          --shared-memory-max-regions=<n>  Regions registered at once. Default: 64
          --shared-memory-max-bytes=<n>    Bytes of all registered regions together. Default: 17179869184
          --shared-memory-owner-uid=<n>    User that must own a region's object. Default: the server's user
          --http-max-connections=<n>  Open connections per listener (0: no limit). Default: 4096
          --http-max-header-size=<n>  Request headers in bytes. Default: 32768
          --http-headers-timeout-secs=<n>  Time to send the headers. Default: 30
          --http-min-request-data-rate=<n> Slowest body in bytes/s after 5 s (0: off). Default: 240
          --http2-max-streams=<n>     Streams per HTTP/2 connection. Default: 100
          --http-keepalive-timeout-secs=<n>  Idle connection timeout. Default: 130
          --grpc-max-send-size=<n>    Largest gRPC reply in bytes (0: no limit). Default: 0
          --help                      Show this text.

        Every other tritonserver flag is accepted; one that has no effect here logs one warning
        saying so, and one that asks for protection this build does not give is refused.
        Binding to anything but loopback is opt-in: pass --http-address=0.0.0.0 to serve the network.
        """;

    /// <summary>Parses the command line.</summary>
    /// <exception cref="ArgumentException">An unknown flag or a bad value; the message says which.</exception>
    public static ServerOptions Parse(IReadOnlyList<string> args)
    {
        var options = new ServerOptions();
        var repositories = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"unexpected argument '{arg}'; run with --help for the options");
            }
            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? arg[2..] : arg[2..equals];
            string? inlineValue = equals < 0 ? null : arg[(equals + 1)..];

            string Value()
            {
                if (inlineValue is not null)
                {
                    return inlineValue;
                }
                if (i + 1 >= args.Count)
                {
                    throw new ArgumentException($"option --{name} needs a value");
                }
                return args[++i];
            }

            string? OptionalValue() =>
                inlineValue ?? (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : null);

            bool Flag()
            {
                // A bare boolean flag means true; tritonserver's own spelling puts the value after
                // '=' or as the next argument ("--allow-http true").
                var text = inlineValue ?? (i + 1 < args.Count && IsBoolean(args[i + 1]) ? args[++i] : "true");
                return text.ToLowerInvariant() switch
                {
                    "true" or "1" or "yes" or "on" => true,
                    "false" or "0" or "no" or "off" => false,
                    _ => throw new ArgumentException($"option --{name} takes true or false, got '{text}'"),
                };
            }

            options = name switch
            {
                "model-repository" or "model-store" => AddRepository(options, repositories, Value()),
                "http-port" => options with { HttpPort = Port(name, Value()) },
                "grpc-port" => options with { GrpcPort = Port(name, Value()) },
                "metrics-port" => options with { MetricsPort = Port(name, Value()) },
                "http-address" => options with { HttpAddress = Address(name, Value()) },
                "grpc-address" => options with { GrpcAddress = Address(name, Value()) },
                "metrics-address" => options with { MetricsAddress = Address(name, Value()) },
                "allow-http" => options with { AllowHttp = Flag() },
                "allow-grpc" => options with { AllowGrpc = Flag() },
                "allow-metrics" => options with { AllowMetrics = Flag() },
                // Metrics and logging.
                "allow-gpu-metrics" => options with { Metrics = options.Metrics with { GpuMetrics = Flag() } },
                "allow-cpu-metrics" => options with { Metrics = options.Metrics with { CpuMetrics = Flag() } },
                "metrics-interval-ms" => options with { Metrics = options.Metrics with { IntervalMilliseconds = (int)Integer(name, Value(), 1, int.MaxValue) } },
                "metrics-config" => MetricsConfig(options, Value()),
                "log-info" => options with { Logging = options.Logging with { Info = Flag() } },
                "log-warning" => options with { Logging = options.Logging with { Warning = Flag() } },
                "log-error" => options with { Logging = options.Logging with { Error = Flag() } },
                "log-format" => options with { Logging = options.Logging with { Format = LogSettings.ParseFormat(Value()) } },
                "log-file" => options with { Logging = options.Logging with { File = Value() } },
                "log-access" => options with { Logging = options.Logging with { Access = Flag() } },
                "trace-config" => options with { Tracing = options.Tracing.WithConfig(Value()) },
                "http-max-input-size" => options with { HttpMaxInputSize = Integer(name, Value(), 1, long.MaxValue) },
                "exit-timeout-secs" => options with { ExitTimeoutSeconds = (int)Integer(name, Value(), 0, int.MaxValue) },
                "log-verbose" => options with { LogVerbose = (int)Integer(name, Value(), 0, int.MaxValue) },
                "model-control-mode" => options with
                {
                    ModelControlMode = Value().ToLowerInvariant() switch
                    {
                        "none" => Models.ModelControlMode.None,
                        "poll" => Models.ModelControlMode.Poll,
                        "explicit" => Models.ModelControlMode.Explicit,
                        var other => throw new ArgumentException($"option --model-control-mode takes none, poll or explicit, got '{other}'"),
                    },
                },
                "load-model" => options with { LoadModels = [.. options.LoadModels, Value()] },
                "repository-poll-secs" => options with { RepositoryPollSeconds = (int)Integer(name, Value(), 1, int.MaxValue) },
                "disable-auto-complete-config" => options with { AutoCompleteConfig = !Flag() },
                "strict-readiness" => options with { StrictReadiness = Flag() },
                "strict-model-config" => options with { AutoCompleteConfig = !Flag() },
                "exit-on-error" => options with { ExitOnError = Flag() },
                "model-load-thread-count" => options with { ModelLoadThreadCount = (int)Integer(name, Value(), 1, 1024) },
                "id" => options with { Id = ServerId(Value()) },
                "watchdog-secs" => options with { WatchdogSeconds = (int)Integer(name, Value(), 0, int.MaxValue) },
                "pinned-memory-pool-byte-size" => options with { PinnedMemoryPoolByteSize = Integer(name, Value(), 0, long.MaxValue) },
                "clear-buffers" => options with { ClearBuffers = Flag() },
                "cache-config" => CacheConfig(options, Value()),
                "response-cache-byte-size" => options with { ResponseCache = options.ResponseCache.WithLocalSize(Value()) },
                "allow-shared-memory" or "allow-client-shm" => options with { SharedMemory = options.SharedMemory with { Allowed = Flag() } },
                "shared-memory-max-regions" => options with { SharedMemory = options.SharedMemory with { MaxRegions = (int)Integer(name, Value(), 1, 65536) } },
                "shared-memory-max-bytes" => options with { SharedMemory = options.SharedMemory with { MaxTotalBytes = Integer(name, Value(), 1, long.MaxValue) } },
                "shared-memory-owner-uid" => options with { SharedMemory = options.SharedMemory with { OwnerId = (uint)Integer(name, Value(), 0, uint.MaxValue) } },
                _ when ListenerLimits.Owns(name) => options with { Limits = options.Limits.With(name, Value()) },
                _ when Fabrik.Security.SecuritySettings.Owns(name) => options with { Security = options.Security.With(name, Value, Flag) },
                _ => TritonFlags.Accept(options, name, OptionalValue()),
            };
        }
        if (!options.AllowHttp && !options.AllowGrpc)
        {
            throw new ArgumentException("--allow-http=false together with --allow-grpc=false leaves no protocol to serve");
        }
        options.Security.Validate();
        if (options.Tracing is { Mode: Fabrik.Observability.Tracing.TraceMode.Triton, File: null, Global.Level: Fabrik.Observability.Tracing.TraceLevel.Timestamps })
        {
            options = options with { FlagWarnings = [.. options.FlagWarnings, "--trace-config: Triton's trace mode without triton,file=PATH writes no traces; name a file, or give mode=opentelemetry"] };
        }
        return options;
    }

    /// <summary>One --metrics-config setting; a Triton key or value Fabrik does not act on adds a
    /// warning line instead of stopping the start.</summary>
    private static ServerOptions MetricsConfig(ServerOptions options, string setting)
    {
        var metrics = options.Metrics.WithConfig(setting, out var warning);
        return warning is null ? options with { Metrics = metrics } : options with { Metrics = metrics, FlagWarnings = [.. options.FlagWarnings, warning] };
    }

    /// <summary>One --cache-config setting; another cache than the local one, or a key it does not
    /// read, adds a warning line (once) instead of stopping the start.</summary>
    private static ServerOptions CacheConfig(ServerOptions options, string setting)
    {
        var cache = options.ResponseCache.WithConfig(setting, out var warning);
        return warning is null || options.FlagWarnings.Contains(warning)
            ? options with { ResponseCache = cache }
            : options with { ResponseCache = cache, FlagWarnings = [.. options.FlagWarnings, warning] };
    }

    private static bool IsBoolean(string text) =>
        text.ToLowerInvariant() is "true" or "1" or "yes" or "on" or "false" or "0" or "no" or "off";

    private static string ServerId(string text) =>
        text.Length is > 0 and <= 128 && text.All(c => !char.IsControl(c))
            ? text
            : throw new ArgumentException("option --id takes a name of 1 to 128 printable characters");

    private static ServerOptions AddRepository(ServerOptions options, List<string> repositories, string path)
    {
        repositories.Add(path);
        return options with { ModelRepositories = [.. repositories] };
    }

    private static int Port(string name, string text) => (int)Integer(name, text, 0, 65535);

    private static long Integer(string name, string text, long minimum, long maximum) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= minimum && value <= maximum
            ? value
            : throw new ArgumentException($"option --{name} takes an integer from {minimum} to {maximum}, got '{text}'");

    private static IPAddress Address(string name, string text) =>
        IPAddress.TryParse(text, out var address)
            ? address
            : throw new ArgumentException($"option --{name} takes an IP address, got '{text}'");
}
