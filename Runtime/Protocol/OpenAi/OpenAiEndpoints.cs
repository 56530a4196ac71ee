using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Fabrik.Errors;
using Fabrik.Models;
using Fabrik.Protocol.Http;
using Fabrik.Security;
using Fabrik.Security.Access;
using Fabrik.Tenancy;
using Fabrik.Tensors;

namespace Fabrik.Protocol.OpenAi;

/// <summary>
/// The OpenAI-compatible surface on the HTTP port: <c>POST /v1/embeddings</c> for the models
/// whose config.pbtxt makes them embedding models, and <c>GET /v1/models[/{model}]</c> listing
/// them. Every answer, refusals included, is in OpenAI's shape. The model is named in the body,
/// so these routes check access themselves once the body is read (as gRPC does per message):
/// Triton's restricted-API headers, then the API key's <c>infer:&lt;model&gt;</c> scope
/// (<c>metadata</c> for the listing), and with --audit-inference one audit record per request.
/// </summary>
internal sealed class OpenAiEndpoints(
    ModelManager models, InferencePipeline pipeline, TensorMemoryPool pool, AccessControl access, SecuritySettings settings, AuditLog audit)
{
    /// <summary>The routes' common prefix, which <see cref="HttpAccessMiddleware"/> leaves to them.</summary>
    public const string Prefix = "/v1";

    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false };

    /// <summary>Adds the routes to <paramref name="routes"/>.</summary>
    public void Map(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/embeddings", EmbeddingsAsync);
        routes.MapGet("/v1/models", ListModelsAsync);
        routes.MapGet("/v1/models/{model}", RetrieveModelAsync);
    }

    private async Task EmbeddingsAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        string? model = null;
        var version = "";
        string? caller = null;
        var authorized = false;
        Tenant? admitted = null;
        try
        {
            EmbeddingRequest request;
            using (var body = await RequestBody.ReadAsync(context.Request, pool, context.RequestAborted))
            {
                request = EmbeddingRequestReader.Read(body.Buffer);
            }
            model = request.Model;
            // The access log names the model as it does for a KServe route.
            context.Request.RouteValues["model"] = model;
            caller = Authorize(context, ApiGroup.Inference, model);
            authorized = true;
            if (context.Features.Get<Tenant>() is { } tenant)
            {
                await AdmitAsync(context, tenant);
                admitted = tenant;
            }
            using var lease = Acquire(model);
            version = lease.Model.VersionText;
            var embedding = lease.Model.Embedding ?? throw OpenAiException.ModelNotFound(model);
            var dimensions = request.Dimensions ?? embedding.Settings.Dimensions;
            if (!embedding.Settings.DimensionsAllowed.Contains(dimensions))
            {
                throw OpenAiException.Invalid(
                    $"model '{model}' gives embeddings of {string.Join(", ", embedding.Settings.DimensionsAllowed)} dimensions, not {dimensions}", "dimensions");
            }
            var inputs = TokenizedInputs.From(request, embedding);
            using var run = await EmbeddingRun.ExecuteAsync(lease.Model, inputs, pipeline, pool, context, context.RequestAborted);
            EmbeddingResponseWriter.Write(context.Response, request, run, dimensions);
            if (admitted is not null)
            {
                var written = context.Response.BodyWriter.CanGetUnflushedBytes ? context.Response.BodyWriter.UnflushedBytes : 0;
                admitted.Usage(model).RecordBytes(context.Request.ContentLength ?? 0, written);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            await AnswerAsync(context, e);
        }
        catch (OperationCanceledException)
        {
            // The client went away; there is nobody to answer.
        }
        finally
        {
            admitted?.Exit();
            if (authorized && audit.Enabled && settings.AuditInference)
            {
                audit.WriteBuffered("inference",
                    ("protocol", "openai"), ("model", model), ("version", version), ("caller", caller), ("client", context.Connection.RemoteIpAddress?.ToString()),
                    ("request_id", context.TraceIdentifier), ("status", context.Response.StatusCode),
                    ("latency_us", (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds),
                    ("bytes_in", context.Request.ContentLength ?? -1), ("bytes_out", context.Response.ContentLength ?? -1));
            }
        }
    }

    private async Task ListModelsAsync(HttpContext context)
    {
        try
        {
            Authorize(context, ApiGroup.Metadata, model: null);
            var served = models.LoadedModels.Where(loaded => loaded.Embedding is not null)
                .GroupBy(loaded => loaded.Name).Select(versions => versions.MaxBy(loaded => loaded.Version)!);
            await WriteJsonAsync(context, json =>
            {
                json.WriteStartObject();
                json.WriteString("object"u8, "list"u8);
                json.WriteStartArray("data"u8);
                foreach (var loaded in served)
                {
                    WriteModel(json, loaded);
                }
                json.WriteEndArray();
                json.WriteEndObject();
            });
        }
        catch (Exception e)
        {
            await AnswerAsync(context, e);
        }
    }

    private async Task RetrieveModelAsync(HttpContext context)
    {
        var name = context.Request.RouteValues["model"] as string ?? "";
        try
        {
            Authorize(context, ApiGroup.Metadata, model: null);
            using var lease = Acquire(name);
            if (lease.Model.Embedding is null)
            {
                throw OpenAiException.ModelNotFound(name);
            }
            var loaded = lease.Model;
            await WriteJsonAsync(context, json => WriteModel(json, loaded));
        }
        catch (Exception e)
        {
            await AnswerAsync(context, e);
        }
    }

    private static void WriteModel(Utf8JsonWriter json, LoadedModel loaded)
    {
        json.WriteStartObject();
        json.WriteString("id"u8, loaded.Name);
        json.WriteString("object"u8, "model"u8);
        json.WriteNumber("created"u8, loaded.LoadedAt.ToUnixTimeSeconds());
        json.WriteString("owned_by"u8, "fabrik"u8);
        json.WriteEndObject();
    }

    /// <summary>A lease on the served version of <paramref name="model"/>; an unknown (or badly
    /// named) model is OpenAI's model_not_found.</summary>
    private ModelLease Acquire(string model)
    {
        try
        {
            return models.Acquire(model, null);
        }
        catch (InferenceException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.InvalidArgument)
        {
            throw OpenAiException.ModelNotFound(model);
        }
    }

    /// <summary>Admits a request of <paramref name="tenant"/>, or throws its quota's refusal as
    /// OpenAI's rate-limit error with Retry-After.</summary>
    private static async Task AdmitAsync(HttpContext context, Tenant tenant)
    {
        if (await tenant.EnterAsync(context.RequestAborted) is { } refusal)
        {
            context.Response.Headers.RetryAfter = refusal.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            throw new OpenAiException(429, "requests", refusal.Message, null, "rate_limit_exceeded");
        }
    }

    /// <summary>Returns the caller (null when access is open), or throws the refusal in OpenAI's terms;
    /// an inference caller's tenant is left in the request's features for the run.</summary>
    private string? Authorize(HttpContext context, ApiGroup group, string? model)
    {
        var request = context.Request;
        if (settings.HttpRestrictedApis.Count > 0
            && RestrictedApi.Refusal(settings.HttpRestrictedApis, group, name => request.Headers[name].FirstOrDefault()) is { } header)
        {
            throw new OpenAiException(403, OpenAiException.InvalidRequest, $"This API is restricted, expecting header '{header}'", null, "restricted_api");
        }
        var authorization = request.Headers.Authorization;
        var decision = access.Check(group, model, authorization.Count == 0 ? null : authorization.ToString(),
            context.Connection.ClientCertificate, context.Connection.RemoteIpAddress, request.Method, request.Path.Value ?? "");
        switch (decision.Outcome)
        {
            case AccessOutcome.Unauthenticated:
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"fabrik\"";
                throw new OpenAiException(401, OpenAiException.InvalidRequest, decision.Message!, null, "invalid_api_key");
            case AccessOutcome.Forbidden:
                throw new OpenAiException(403, OpenAiException.InvalidRequest, decision.Message!, model is null ? null : "model", "insufficient_permissions");
            case AccessOutcome.RateLimited:
                context.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(decision.RetryAfter!.Value.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                throw new OpenAiException(429, "requests", decision.Message!, null, "rate_limit_exceeded");
            default:
                if (group == ApiGroup.Inference && decision.Tenant is { } tenant)
                {
                    context.Features.Set(tenant);
                }
                return decision.Caller;
        }
    }

    /// <summary>Answers a failure in OpenAI's shape; a broken connection is aborted instead.</summary>
    private static Task AnswerAsync(HttpContext context, Exception error)
    {
        switch (error)
        {
            case OpenAiException refusal:
                return OpenAiErrors.WriteAsync(context, refusal);
            case InferenceException failure:
                return OpenAiErrors.WriteAsync(context, OpenAiErrors.From(context, failure));
            case BadHttpRequestException bad:
                // Kestrel's own verdicts on the body: over the size limit (413), truncated, and so on.
                return OpenAiErrors.WriteAsync(context, new OpenAiException(bad.StatusCode, OpenAiException.InvalidRequest, bad.Message));
            case IOException:
                // The connection broke while the body was read; nobody is left to answer.
                context.Abort();
                return Task.CompletedTask;
            default:
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
                return Task.CompletedTask;
        }
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
