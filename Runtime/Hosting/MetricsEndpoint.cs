using System.Net.Http.Headers;
using Fabrik.Caching;
using Fabrik.Models;
using Fabrik.Observability.Metrics;
using Fabrik.Security;
using Fabrik.Security.Access;
using Fabrik.Tenancy;
using Fabrik.Tensors;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Prometheus;

namespace Fabrik.Hosting;

/// <summary>
/// The metrics port (--metrics-port, default 8002): its own Kestrel listener serving
/// <c>GET /metrics</c> and nothing else, in Prometheus text or, when the client asks for it,
/// OpenMetrics. This is the one place the metrics listener is set up: TLS in
/// <see cref="ConfigureListener"/>, API keys (the <c>metrics</c> scope) through the server's access checks.
/// </summary>
/// <remarks>Created before the models load (their statistics record into
/// <see cref="Inference"/>), started after the main listeners, disposed after them.</remarks>
internal sealed partial class MetricsEndpoint : IAsyncDisposable
{
    private readonly ServerOptions _options;
    private readonly FabrikMeter _meter = new();
    private readonly PrometheusExporter _exporter;
    private HostMetrics? _host;
    private WebApplication? _app;

    private MetricsEndpoint(ServerOptions options)
    {
        _options = options;
        Inference = new InferenceMetrics(_meter, options.Metrics, options.ResponseCache.Enabled);
        _exporter = new PrometheusExporter(_meter, options.Metrics);
    }

    /// <summary>The per-model instruments that the models' statistics record into.</summary>
    public InferenceMetrics Inference { get; }

    /// <summary>Base address of the listener, with the real port when 0 was asked for.</summary>
    public Uri? Address { get; private set; }

    /// <summary>The endpoint, or null with --allow-metrics=false (then the port stays closed and
    /// requests record nothing beyond the statistics extension).</summary>
    public static MetricsEndpoint? Create(ServerOptions options) => options.AllowMetrics ? new MetricsEndpoint(options) : null;

    /// <summary>Starts listening. <paramref name="models"/>, <paramref name="pool"/> and
    /// <paramref name="responseCache"/> (null when the server has none) are what the per-model,
    /// state, pinned-pool and cache metrics observe; <paramref name="serverServices"/> lends the
    /// main server's access rules and audit log, so the metrics port takes the same API keys (the
    /// <c>metrics</c> scope) and its own TLS (--metrics-tls-*).</summary>
    public async Task StartAsync(
        ModelManager models, TensorMemoryPool pool, ResponseCache? responseCache, IServiceProvider serverServices, ILoggerFactory loggers, CancellationToken cancellation)
    {
        Inference.Observe(
            () => models.LoadedModels.Select(model => new ModelSeries(model.Name, model.VersionText, model.Statistics)),
            () => models.Models.Values.OrderBy(entry => entry.Name, StringComparer.Ordinal).SelectMany(entry => entry.Versions.IsEmpty
                ? [new ModelStateSeries(entry.Name, "", ModelEntry.StateName(entry.State))]
                : entry.Versions.Values.Select(version => new ModelStateSeries(entry.Name, version.VersionText, ModelEntry.StateName(entry.State)))));
        if (responseCache is not null)
        {
            ResponseCacheGauges.Add(_meter, () => responseCache.Counters);
        }
        if (serverServices.GetRequiredService<SecuritySettings>().AuthKeysPath is not null)
        {
            var tenants = serverServices.GetRequiredService<TenantRegistry>();
            TenantMetrics.Add(_meter,
                () => [.. tenants.UsageByLabel().Select(row => new TenantUsageSeries(row.Tenant, row.Model, row.Totals.Requests, row.Totals.Rows,
                    row.Totals.Failures, row.Totals.ComputeMicroseconds, row.Totals.BytesIn, row.Totals.BytesOut))],
                () => [.. tenants.StateByLabel().Select(row => new TenantStateSeries(row.Tenant, row.InFlight, row.Waiting, row.Rate, row.Concurrency, row.Compute))]);
        }
        _host = new HostMetrics(_meter, _options.Metrics, () => pool.LiveBytes, () => pool.OutstandingBytes, loggers.CreateLogger("Fabrik.Metrics"));

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggers);
        var security = serverServices.GetRequiredService<SecuritySettings>();
        builder.Services.AddSingleton(security);
        builder.Services.AddSingleton(serverServices.GetRequiredService<AuditLog>());
        if (SecurityHosting.ChecksAccess(security))
        {
            builder.Services.AddSingleton(serverServices.GetRequiredService<AccessControl>());
        }
        ListenOptions? listener = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(_options.MetricsAddress, _options.MetricsPort, listen =>
            {
                ConfigureListener(listen);
                listener = listen;
            });
        });
        _app = builder.Build();
        // Only /metrics: any other path is not found before the access checks see it (no 401, no audit record).
        _app.Use(static (context, next) =>
        {
            if (context.GetEndpoint() is null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }
            return next(context);
        });
        SecurityHosting.UseAccessChecks(_app, security);
        _app.Map("/metrics", ScrapeAsync);
        await _app.StartAsync(cancellation);
        Address = new Uri($"{(_options.Security.MetricsTls is null ? "http" : "https")}://{listener!.IPEndPoint}/");
        Log.MetricsListening(loggers.CreateLogger("Fabrik.Server"), Address);
    }

    /// <summary>Answers a scrape in Prometheus text, or in OpenMetrics when the Accept header (or
    /// an <c>accept</c> query parameter, for browsers) prefers it, as prometheus-net's own
    /// middleware negotiates.</summary>
    private async Task ScrapeAsync(HttpContext context)
    {
        var openMetrics = PrefersOpenMetrics(context.Request);
        using var text = await _exporter.ScrapeAsync(openMetrics ? ExpositionFormat.OpenMetricsText : ExpositionFormat.PrometheusText, context.RequestAborted);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = openMetrics
            ? PrometheusConstants.OpenMetricsContentTypeWithVersionAndEncoding
            : PrometheusConstants.TextContentTypeWithVersionAndEncoding;
        context.Response.ContentLength = text.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await text.CopyToAsync(context.Response.Body, context.RequestAborted);
        }
    }

    /// <summary>True when the most preferred media type the client names is OpenMetrics (the
    /// first named on a tie, as prometheus-net orders them).</summary>
    private static bool PrefersOpenMetrics(HttpRequest request)
    {
        var accept = request.Query.TryGetValue("accept", out var fromQuery) ? fromQuery.ToString() : request.Headers.Accept.ToString();
        MediaTypeWithQualityHeaderValue? preferred = null;
        foreach (var candidate in accept.Split(','))
        {
            if (MediaTypeWithQualityHeaderValue.TryParse(candidate, out var media)
                && media.MediaType is PrometheusConstants.TextContentType or PrometheusConstants.OpenMetricsContentType
                && (preferred is null || (media.Quality ?? 1) > (preferred.Quality ?? 1)))
            {
                preferred = media;
            }
        }
        return preferred?.MediaType == PrometheusConstants.OpenMetricsContentType;
    }

    /// <summary>The listener's transport: HTTP/1.1 on the metrics address, with TLS when
    /// --metrics-tls-cert and --metrics-tls-key are given.</summary>
    private void ConfigureListener(ListenOptions listen)
    {
        listen.Protocols = HttpProtocols.Http1;
        SecurityHosting.UseTls(listen, _options.Security.MetricsTls);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        _host?.Dispose();
        _exporter.Dispose();
        _meter.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Metrics service listening on {Address}")]
        public static partial void MetricsListening(ILogger logger, Uri address);
    }
}
