using System.Net;
using Fabrik.Caching;
using Fabrik.Execution;
using Fabrik.Models;
using Fabrik.Native;
using Fabrik.Native.Memory;
using Fabrik.Observability.Tracing;
using Fabrik.Protocol;
using Fabrik.Protocol.Grpc;
using Fabrik.Protocol.Http;
using Fabrik.Protocol.OpenAi;
using Fabrik.Protocol.SharedMemory;
using Fabrik.Scheduling;
using Fabrik.Security;
using Fabrik.Security.ModelSigning;
using Fabrik.Tensors;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Fabrik.Hosting;

/// <summary>
/// The whole server: Kestrel listeners, the model manager and the protocol endpoints, started in
/// order and stopped in reverse (stop intake, let in-flight requests finish, unload models).
/// Program and the integration tests start it the same way.
/// </summary>
internal sealed partial class FabrikServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ILogger _logger;
    private readonly MetricsEndpoint? _metrics;
    private readonly OpenTelemetry.Trace.TracerProvider? _tracerProvider;
    private int _stopped;
    private AuditLog? _audit;
    private TritonTraceFile? _traceFile;
    private TenantUsageLog? _usage;

    private FabrikServer(WebApplication app, ServerOptions options, MetricsEndpoint? metrics, OpenTelemetry.Trace.TracerProvider? tracerProvider)
    {
        _app = app;
        _metrics = metrics;
        _tracerProvider = tracerProvider;
        Options = options;
        _logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Fabrik.Server");
    }

    public ServerOptions Options { get; }

    /// <summary>The host's services (the in-memory host finds its server here).</summary>
    public IServiceProvider Services => _app.Services;

    public ModelManager Models => _app.Services.GetRequiredService<ModelManager>();

    /// <summary>Poll mode's scanner (idle in the other control modes).</summary>
    public RepositoryPoller Poller => _app.Services.GetRequiredService<RepositoryPoller>();

    public TensorMemoryPool TensorPool => _app.Services.GetRequiredService<TensorMemoryPool>();

    /// <summary>Base address of the HTTP listener, with the real port when 0 was asked for.</summary>
    public Uri? HttpAddress { get; private set; }

    /// <summary>Base address of the gRPC listener (https when TLS is on).</summary>
    public Uri? GrpcAddress { get; private set; }

    /// <summary>Base address of the metrics listener; null with --allow-metrics=false.</summary>
    public Uri? MetricsAddress { get; private set; }

    /// <summary>Starts listening, then loads the models (readiness is false until they are loaded).</summary>
    /// <param name="options">The command-line settings.</param>
    /// <param name="time">The clock for batching delays and queue timeouts; the system clock unless a test injects one.</param>
    /// <param name="cancellation">Abandons start-up.</param>
    /// <param name="configureHost">Changes to the web host before it is built: the in-memory host
    /// (tests and benchmarks) replaces Kestrel with a server without sockets here.</param>
    public static async Task<FabrikServer> StartAsync(
        ServerOptions options, TimeProvider? time = null, CancellationToken cancellation = default, Action<IWebHostBuilder>? configureHost = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        LoggingSetup.Configure(builder.Logging, options);
        var metrics = MetricsEndpoint.Create(options);
        var traceFile = TracingSetup.OpenTraceFile(options.Tracing);
        var tracing = new InferenceTracing(options.Tracing.Global, options.Tracing.ModeName, traceFile);
        var tracerProvider = TracingSetup.Start(options.Tracing);

        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(options.ExitTimeoutSeconds));
        var trust = ModelTrust.Load(options.Security.ModelTrustKeys);
        var audit = SecurityHosting.AddSecurity(builder, options.Security);
        ListenOptions? httpListener = null, grpcListener = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.HttpMaxInputSize;
            options.Limits.Apply(kestrel.Limits);
            if (options.AllowHttp)
            {
                kestrel.Listen(options.HttpAddress, options.HttpPort, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    ListenerSeparation.Mark(listen, ListenerProtocol.Http);
                    SecurityHosting.UseTls(listen, options.Security.HttpTls);
                    httpListener = listen;
                });
            }
            if (options.AllowGrpc)
            {
                kestrel.Listen(options.GrpcAddress, options.GrpcPort, listen =>
                {
                    listen.Protocols = HttpProtocols.Http2;
                    ListenerSeparation.Mark(listen, ListenerProtocol.Grpc);
                    SecurityHosting.UseTls(listen, options.Security.GrpcTls);
                    grpcListener = listen;
                });
            }
        });
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = (int)Math.Min(options.HttpMaxInputSize, int.MaxValue);
            grpc.MaxSendMessageSize = options.Limits.GrpcMaxSendBytes == 0 ? null : options.Limits.GrpcMaxSendBytes;
            grpc.EnableDetailedErrors = false;
            SecurityHosting.AddGrpcAccess(grpc, options.Security);
        });

        var repositories = options.ModelRepositories.Select(Path.GetFullPath).ToArray();
        var responseCache = options.ResponseCache.Enabled ? new ResponseCache(options.ResponseCache.LocalSizeBytes!.Value, options.ClearBuffers) : null;
        builder.Services.AddSingleton(new TensorMemoryPool(byteLimit: options.PinnedMemoryPoolByteSize, clearOnReturn: options.ClearBuffers));
        builder.Services.AddSingleton(services => new ServerIdentity
        {
            Name = options.Id,
            Extensions = !options.SharedMemory.Allowed ? new ServerIdentity().Extensions
                : services.GetRequiredService<ICudaSharedMemory>().DeviceCount > 0 ? [.. new ServerIdentity().Extensions, "system_shared_memory", "cuda_shared_memory"]
                : [.. new ServerIdentity().Extensions, "system_shared_memory"],
            Liveness = () => !SchedulerWatchdog.IsWedged(services.GetRequiredService<ModelManager>().LoadedModels.Select(model => model.Scheduler), options.WatchdogSeconds),
        });
        builder.Services.AddSingleton(time ?? TimeProvider.System);
        builder.Services.AddSingleton(_ => GpuInventory.Query());
        var repositoryOptions = new ModelRepositoryOptions(repositories)
        {
            ControlMode = options.ModelControlMode,
            StartupModels = options.LoadModels,
            AutoCompleteConfig = options.AutoCompleteConfig,
            StrictReadiness = options.StrictReadiness,
            PollInterval = TimeSpan.FromSeconds(options.RepositoryPollSeconds),
            LoadThreadCount = options.ModelLoadThreadCount,
            Metrics = metrics?.Inference,
            Trust = trust,
            ResponseCache = responseCache,
        };
        builder.Services.AddSingleton(repositoryOptions);
        builder.Services.AddSingleton(BackendRegistry.Default);
        builder.Services.AddSingleton<ModelLoader>();
        builder.Services.AddSingleton<ModelManager>();
        builder.Services.AddSingleton<RepositoryPoller>();
        builder.Services.AddSingleton<InferencePipeline>();
        builder.Services.AddSingleton<KServeHttpEndpoints>();
        builder.Services.AddSingleton<OpenAiEndpoints>();
        builder.Services.AddSingleton(options.SharedMemory);
        builder.Services.AddSingleton<ICudaSharedMemory, CudaDriverSharedMemory>();
        builder.Services.AddSingleton<SharedMemoryRegistry>();
        builder.Services.AddSingleton<SharedMemoryHttpEndpoints>();
        builder.Services.AddSingleton(tracing);

        configureHost?.Invoke(builder.WebHost);
        var app = builder.Build();
        ListenerSeparation.Use(app);
        try
        {
            SecurityHosting.UseAccessChecks(app, options.Security);
        }
        catch
        {
            audit.Dispose();
            traceFile?.Dispose();
            await app.DisposeAsync();
            throw;
        }
        app.Services.GetRequiredService<SharedMemoryHttpEndpoints>().Map(app);
        app.Services.GetRequiredService<KServeHttpEndpoints>().Map(app);
        app.Services.GetRequiredService<OpenAiEndpoints>().Map(app);
        app.Services.GetRequiredService<TenantUsageEndpoint>().Map(app);
        TraceSettingEndpoints.Map(app, tracing, app.Services.GetRequiredService<ModelManager>());
        app.MapGrpcService<GrpcInferenceService>().WithMetadata(GrpcBodyLimit.PerMessage);
        app.MapGrpcService<GrpcHealthService>();
        // SIGTERM: readiness turns false and new requests get 503 first; Kestrel then waits for the
        // requests in flight (up to --exit-timeout-secs); the models drain and unload last.
        var models = app.Services.GetRequiredService<ModelManager>();
        app.Lifetime.ApplicationStopping.Register(models.BeginShutdown);
        var idleRelease = new IdleMemoryRelease(app.Services.GetRequiredService<TensorMemoryPool>(), app.Services.GetRequiredService<TimeProvider>(),
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Fabrik.Memory"));
        app.Lifetime.ApplicationStopping.Register(idleRelease.Dispose);

        if (options.Logging.Access)
        {
            app.UseMiddleware<AccessLogMiddleware>();
        }
        var server = new FabrikServer(app, options, metrics, tracerProvider)
        {
            _audit = audit, _traceFile = traceFile, _usage = SecurityHosting.StartUsageLog(app, options.Security),
        };
        TritonFlags.LogWarnings(server._logger, options);
        try
        {
            await app.StartAsync(cancellation);
            SecurityHosting.WarnAboutCleartext(server._logger, options);
            SecurityHosting.AuditStart(audit, options, repositories);
            // Kestrel writes the bound port back into the listen options when 0 was asked for.
            if (httpListener is not null)
            {
                server.HttpAddress = BaseAddress(httpListener.IPEndPoint!, options.Security.HttpTls is not null);
                Log.HttpListening(server._logger, server.HttpAddress);
            }
            if (grpcListener is not null)
            {
                server.GrpcAddress = BaseAddress(grpcListener.IPEndPoint!, options.Security.GrpcTls is not null);
                Log.GrpcListening(server._logger, server.GrpcAddress);
            }
            if (metrics is not null)
            {
                await metrics.StartAsync(server.Models, server.TensorPool, responseCache, app.Services, app.Services.GetRequiredService<ILoggerFactory>(), cancellation);
                server.MetricsAddress = metrics.Address;
            }
            var gpus = app.Services.GetRequiredService<GpuInventory>();
            Log.Devices(server._logger, gpus.Devices.Count == 0 ? gpus.Unavailable ?? "no GPU" : string.Join("; ", gpus.Devices.Select(gpu => $"GPU {gpu.Index}: {gpu.Name}")));
            Log.LibTorch(server._logger, string.Join("; ", BackendRegistry.DescribeNativeLibraries()));
            Log.Memory(server._logger, ManagedHeapDescription.Describe(), NativeHeap.ArenaSetting);
            if (responseCache is not null)
            {
                Log.ResponseCache(server._logger, responseCache.SizeBytes);
            }
            if (BackendRegistry.NativeLibraryWarning is { } libTorchWarning)
            {
                Log.LibTorchWarning(server._logger, libTorchWarning);
            }
            await server.Models.LoadAllAsync(cancellation);
            StartupModels.ThrowIfAnyFailed(options, server.Models);
            server.Poller.Start();
            Log.Started(server._logger, string.Join(", ", repositories));
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private static Uri BaseAddress(IPEndPoint endpoint, bool tls) => new($"{(tls ? "https" : "http")}://{endpoint}/");

    /// <summary>Completes when the process is asked to stop (SIGTERM, SIGINT).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellation = default) => _app.WaitForShutdownAsync(cancellation);

    /// <summary>Seconds allowed after --exit-timeout-secs for the models to drain and unload
    /// before shutdown gives up on them.</summary>
    public const int UnloadGraceSeconds = 5;

    /// <summary>Stops intake, waits for in-flight requests (up to --exit-timeout-secs), then
    /// unloads. The whole takes at most --exit-timeout-secs + <see cref="UnloadGraceSeconds"/>: a
    /// run that never returns is abandoned (its thread dies with the process) rather than keeping
    /// the process alive.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }
        var bound = TimeSpan.FromSeconds((long)Options.ExitTimeoutSeconds + UnloadGraceSeconds);
        try
        {
            await StopAndUnloadAsync().WaitAsync(bound);
        }
        catch (TimeoutException)
        {
            Log.ShutdownAbandoned(_logger, bound.TotalSeconds);
        }
    }

    private async Task StopAndUnloadAsync()
    {
        await _app.StopAsync();
        _usage?.Dispose(); // the last period, once the requests in flight were answered
        await _app.DisposeAsync();
        if (_metrics is not null)
        {
            await _metrics.DisposeAsync();
        }
        _tracerProvider?.Dispose(); // flushes the spans not yet exported
        _traceFile?.Dispose(); // closes the JSON array
        _audit?.Write("server-stop");
        _audit?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "HTTP service listening on {Address}")]
        public static partial void HttpListening(ILogger logger, Uri address);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Fabrik is serving model repository {Repositories}")]
        public static partial void Started(ILogger logger, string repositories);

        [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Devices: {Devices}")]
        public static partial void Devices(ILogger logger, string devices);

        [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "TorchScript: {LibTorch}")]
        public static partial void LibTorch(ILogger logger, string libTorch);

        [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "TorchScript: {Warning}")]
        public static partial void LibTorchWarning(ILogger logger, string warning);

        [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Response cache: local, {Bytes} bytes")]
        public static partial void ResponseCache(ILogger logger, long bytes);

        [LoggerMessage(EventId = 9, Level = LogLevel.Information, Message = "memory: {ManagedHeap}; {NativeHeap}")]
        public static partial void Memory(ILogger logger, string managedHeap, string nativeHeap);

        [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "Shutdown gave up after {Seconds} s: a model run has not returned; exiting without it")]
        public static partial void ShutdownAbandoned(ILogger logger, double seconds);

        [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "gRPC service listening on {Address}")]
        public static partial void GrpcListening(ILogger logger, Uri address);
    }
}
