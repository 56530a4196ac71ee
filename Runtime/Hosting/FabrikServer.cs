using System.Net;
using Fabrik.Execution;
using Fabrik.Models;
using Fabrik.Native;
using Fabrik.Protocol;
using Fabrik.Protocol.Grpc;
using Fabrik.Protocol.Http;
using Fabrik.Security;
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
    private int _stopped;
    private AuditLog? _audit;

    private FabrikServer(WebApplication app, ServerOptions options)
    {
        _app = app;
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
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Logging.SetMinimumLevel(options.LogVerbose > 0 ? LogLevel.Debug : LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", options.LogVerbose > 0 ? LogLevel.Information : LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);

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
                    SecurityHosting.UseTls(listen, options.Security.HttpTls);
                    httpListener = listen;
                });
            }
            if (options.AllowGrpc)
            {
                kestrel.Listen(options.GrpcAddress, options.GrpcPort, listen =>
                {
                    listen.Protocols = HttpProtocols.Http2;
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
        builder.Services.AddSingleton(new TensorMemoryPool(clearOnReturn: options.ClearBuffers));
        builder.Services.AddSingleton(new ServerIdentity());
        builder.Services.AddSingleton(time ?? TimeProvider.System);
        builder.Services.AddSingleton(_ => GpuInventory.Query());
        var repositoryOptions = new ModelRepositoryOptions(repositories)
        {
            ControlMode = options.ModelControlMode,
            StartupModels = options.LoadModels,
            AutoCompleteConfig = options.AutoCompleteConfig,
            StrictReadiness = options.StrictReadiness,
            PollInterval = TimeSpan.FromSeconds(options.RepositoryPollSeconds),
            Trust = trust,
        };
        builder.Services.AddSingleton(repositoryOptions);
        builder.Services.AddSingleton(BackendRegistry.Default);
        builder.Services.AddSingleton<ModelLoader>();
        builder.Services.AddSingleton<ModelManager>();
        builder.Services.AddSingleton<RepositoryPoller>();
        builder.Services.AddSingleton<KServeHttpEndpoints>();

        configureHost?.Invoke(builder.WebHost);
        var app = builder.Build();
        try
        {
            SecurityHosting.UseAccessChecks(app, options.Security);
        }
        catch
        {
            audit.Dispose();
            await app.DisposeAsync();
            throw;
        }
        app.Services.GetRequiredService<KServeHttpEndpoints>().Map(app);
        app.MapGrpcService<GrpcInferenceService>();
        app.MapGrpcService<GrpcHealthService>();
        // SIGTERM: readiness turns false and new requests get 503 first; Kestrel then waits for the
        // requests in flight (up to --exit-timeout-secs); the models drain and unload last.
        var models = app.Services.GetRequiredService<ModelManager>();
        app.Lifetime.ApplicationStopping.Register(models.BeginShutdown);
        SecurityHosting.ReleaseIdleBuffersPeriodically(app, app.Services.GetRequiredService<TensorMemoryPool>());

        var server = new FabrikServer(app, options) { _audit = audit };
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
            if (options.AllowMetrics)
            {
                Log.MetricsNotYetServed(server._logger, options.MetricsPort);
            }
            var gpus = app.Services.GetRequiredService<GpuInventory>();
            Log.Devices(server._logger, gpus.Devices.Count == 0 ? gpus.Unavailable ?? "no GPU" : string.Join("; ", gpus.Devices.Select(gpu => $"GPU {gpu.Index}: {gpu.Name}")));
            await server.Models.LoadAllAsync(cancellation);
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

    /// <summary>Stops intake, waits for in-flight requests (up to --exit-timeout-secs), then unloads.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }
        await _app.StopAsync();
        await _app.DisposeAsync();
        _audit?.Write("server-stop");
        _audit?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "HTTP service listening on {Address}")]
        public static partial void HttpListening(ILogger logger, Uri address);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Fabrik is serving model repository {Repositories}")]
        public static partial void Started(ILogger logger, string repositories);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Metrics (port {MetricsPort}) are not served yet by this version")]
        public static partial void MetricsNotYetServed(ILogger logger, int metricsPort);

        [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Devices: {Devices}")]
        public static partial void Devices(ILogger logger, string devices);

        [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "gRPC service listening on {Address}")]
        public static partial void GrpcListening(ILogger logger, Uri address);
    }
}
