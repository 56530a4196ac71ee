using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Fabrik.Errors;
using Fabrik.Models;
using Fabrik.Protocol.SharedMemory;
using Fabrik.Scheduling;
using Fabrik.Tenancy;
using Fabrik.Tensors;

namespace Fabrik.Protocol.Http;

/// <summary>
/// The KServe v2 HTTP/REST endpoints: health, server and model metadata, model readiness and
/// inference. Every error answers <c>{"error": "..."}</c> with Triton's status code mapping.
/// </summary>
internal sealed class KServeHttpEndpoints(ModelManager models, InferencePipeline pipeline, TensorMemoryPool pool, ServerIdentity identity, SharedMemoryRegistry sharedMemory)
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Adds the routes to <paramref name="routes"/>.</summary>
    public void Map(IEndpointRouteBuilder routes)
    {
        routes.MapGet("/v2/health/live", context => WriteStatusAsync(context, identity.IsLive));
        routes.MapGet("/v2/health/ready", context => WriteStatusAsync(context, models.AllModelsReady));
        routes.MapGet("/v2", WriteServerMetadataAsync);
        routes.MapGet("/v2/models/{model}", WriteModelMetadataAsync);
        routes.MapGet("/v2/models/{model}/versions/{version}", WriteModelMetadataAsync);
        routes.MapGet("/v2/models/{model}/ready", WriteModelReadyAsync);
        routes.MapGet("/v2/models/{model}/versions/{version}/ready", WriteModelReadyAsync);
        routes.MapPost("/v2/models/{model}/infer", InferAsync);
        routes.MapPost("/v2/models/{model}/versions/{version}/infer", InferAsync);
        routes.MapGet("/v2/models/{model}/config", WriteModelConfigAsync);
        routes.MapGet("/v2/models/{model}/versions/{version}/config", WriteModelConfigAsync);
        routes.MapGet("/v2/models/stats", WriteStatisticsAsync);
        routes.MapGet("/v2/models/{model}/stats", WriteStatisticsAsync);
        routes.MapGet("/v2/models/{model}/versions/{version}/stats", WriteStatisticsAsync);
        routes.MapPost("/v2/repository/index", WriteRepositoryIndexAsync);
        routes.MapPost("/v2/repository/models/{model}/load", LoadAsync);
        routes.MapPost("/v2/repository/models/{model}/unload", UnloadAsync);
        routes.MapFallback(context => WriteErrorAsync(context, 404, $"no endpoint for {context.Request.Method} {context.Request.Path}"));
    }

    // Triton answers readiness and liveness with 200 when true and 400 when false.
    private static Task WriteStatusAsync(HttpContext context, bool ok)
    {
        context.Response.StatusCode = ok ? 200 : 400;
        return Task.CompletedTask;
    }

    private Task WriteServerMetadataAsync(HttpContext context) =>
        WriteJsonAsync(context, json => ServerViewsJson.WriteServerMetadata(json, ServerViews.ServerMetadata(identity)));

    private Task WriteModelMetadataAsync(HttpContext context)
    {
        var model = Resolve(context, out var error);
        return model is null
            ? WriteErrorAsync(context, error!)
            : WriteJsonAsync(context, json => ServerViewsJson.WriteModelMetadata(json, ServerViews.ModelMetadata(model, models.ServedVersions(model))));
    }

    private Task WriteModelConfigAsync(HttpContext context)
    {
        var model = Resolve(context, out var error);
        return model is null
            ? WriteErrorAsync(context, error!)
            : WriteJsonAsync(context, json => ServerViewsJson.WriteConfig(json, ServerViews.Config(model)));
    }

    private Task WriteStatisticsAsync(HttpContext context)
    {
        if (context.Request.RouteValues["model"] is null)
        {
            return WriteJsonAsync(context, json => ServerViewsJson.WriteStatistics(json, ServerViews.Statistics(models.LoadedModels)));
        }
        var model = Resolve(context, out var error);
        if (model is null)
        {
            return WriteErrorAsync(context, error!);
        }
        // Without a version: every served version of the model, as Triton reports them.
        IEnumerable<LoadedModel> selected = context.Request.RouteValues["version"] is null ? models.ServedVersions(model) : [model];
        return WriteJsonAsync(context, json => ServerViewsJson.WriteStatistics(json, ServerViews.Statistics(selected)));
    }

    private async Task WriteRepositoryIndexAsync(HttpContext context)
    {
        // The body is optional: {"ready": true} lists only READY models.
        var readyOnly = false;
        RequestBody body;
        try
        {
            body = await RequestBody.ReadAsync(context.Request, pool, context.RequestAborted);
        }
        catch (InferenceException e)
        {
            await WriteErrorAsync(context, e);
            return;
        }
        using (body)
        {
            if (body.Buffer.Length > 0)
            {
                try
                {
                    using var document = JsonDocument.Parse(body.Buffer);
                    readyOnly = document.RootElement.ValueKind == JsonValueKind.Object
                        && document.RootElement.TryGetProperty("ready"u8, out var ready) && ready.ValueKind == JsonValueKind.True;
                }
                catch (JsonException e)
                {
                    await WriteErrorAsync(context, 400, JsonSyntaxError.Describe(body.Buffer, e));
                    return;
                }
            }
        }
        var index = ServerViews.RepositoryIndex(models, readyOnly);
        await WriteJsonAsync(context, json => ServerViewsJson.WriteRepositoryIndex(json, index));
    }

    private Task LoadAsync(HttpContext context) => RepositoryActionAsync(context, load: true);

    private Task UnloadAsync(HttpContext context) => RepositoryActionAsync(context, load: false);

    /// <summary>POST /v2/repository/models/{m}/load|unload. The body may carry parameters, but
    /// never model files or a configuration: a client cannot make the server load what is not
    /// already in the repository.</summary>
    private async Task RepositoryActionAsync(HttpContext context, bool load)
    {
        var name = context.Request.RouteValues["model"] as string ?? "";
        try
        {
            using (var body = await RequestBody.ReadAsync(context.Request, pool, context.RequestAborted))
            {
                RejectFilesInBody(body.Buffer);
            }
            if (load)
            {
                await models.LoadAsync(name, context.RequestAborted);
            }
            else
            {
                await models.UnloadAsync(name, context.RequestAborted);
            }
            context.Response.StatusCode = 200;
        }
        catch (InferenceException e)
        {
            await WriteErrorAsync(context, e);
        }
    }

    private static void RejectFilesInBody(ReadOnlySequence<byte> body)
    {
        if (body.Length == 0)
        {
            return;
        }
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("parameters"u8, out var parameters)
                && parameters.ValueKind == JsonValueKind.Object)
            {
                ServerViews.RejectModelFilesInLoadParameters(parameters.EnumerateObject().Select(parameter => parameter.Name));
            }
        }
        catch (JsonException e)
        {
            throw InferenceException.InvalidArgument(JsonSyntaxError.Describe(body, e));
        }
    }

    private Task WriteModelReadyAsync(HttpContext context) => WriteStatusAsync(context, Resolve(context, out _) is { Scheduler.Health.IsHealthy: true });

    private async Task InferAsync(HttpContext context)
    {
        var routeValues = context.Request.RouteValues;
        try
        {
            await pipeline.RunAsync<HttpInferenceExchange, bool>(
                routeValues["model"] as string ?? "", routeValues["version"] as string, new HttpInferenceExchange(context, pool, sharedMemory, context.Features.Get<Tenant>()), context.RequestAborted);
        }
        catch (InferenceException e)
        {
            await WriteErrorAsync(context, e);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's own verdicts on the body: over the size limit (413), truncated, and so on.
            await WriteErrorAsync(context, e.StatusCode, e.Message);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (IOException)
        {
            // The connection broke (reset by the client) while the body was read; there is nobody
            // to answer. Aborting tells Kestrel so: it then neither drains the rest of the body
            // from the broken connection nor reads another request from it. (Kestrel's
            // BadHttpRequestException, also an IOException, is answered above.)
            context.Abort();
        }
    }

    private LoadedModel? Resolve(HttpContext context, out InferenceException? error)
    {
        var routeValues = context.Request.RouteValues;
        var name = routeValues["model"] as string ?? "";
        var version = routeValues["version"] as string;
        try
        {
            error = null;
            return models.Resolve(name, version);
        }
        catch (InferenceException e)
        {
            error = e;
            return null;
        }
    }

    private static Task WriteErrorAsync(HttpContext context, InferenceException error)
    {
        if (error.Kind == ErrorKind.Overloaded && !context.Response.HasStarted)
        {
            context.Response.Headers.RetryAfter = QueueLimits.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        }
        return WriteErrorAsync(context, HttpErrors.StatusCode(error.Kind), HttpErrors.ClientMessage(context, error));
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string message)
    {
        if (context.Response.HasStarted)
        {
            context.Abort();
            return;
        }
        context.Response.StatusCode = status;
        await HttpErrors.WriteAsync(context, message);
    }

    private static async Task WriteJsonAsync(HttpContext context, Action<Utf8JsonWriter> write)
    {
        context.Response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter, WriterOptions))
        {
            write(json);
        }
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }
}
