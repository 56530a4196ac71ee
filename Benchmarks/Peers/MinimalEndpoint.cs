using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Fabrik.Benchmarks.Peers;

/// <summary>
/// The comparison floor: a hand-written Kestrel + ONNX Runtime endpoint that decodes the same v2
/// request (JSON, or the binary extension), runs the session and encodes the response, with no
/// queue, no batching, no validation beyond what it needs and no features. Sessions use Fabrik's
/// default thread settings, so the comparison is of the serving path only. INT32 and FP32 tensors
/// (simple, mlp, cnn).
/// </summary>
public static class MinimalEndpoint
{
    /// <summary>The whole gRPC response to ServerLive: a length-prefixed ServerLiveResponse whose
    /// field 1 (live) is true.</summary>
    private static readonly byte[] LiveResponse = [0, 0, 0, 0, 2, 0x08, 0x01];

    /// <summary>Serves until cancelled; over TLS with <paramref name="certificate"/> when given (the
    /// floor for Fabrik's TLS listener: the same certificate and Kestrel's own TLS, nothing else).
    /// With <paramref name="h2cPort"/>, also answers gRPC's ServerLive over cleartext HTTP/2 by
    /// hand, with no gRPC framework: the floor for a gRPC call on Kestrel.</summary>
    public static async Task RunAsync(int port, string repository, IReadOnlyList<string> models, CancellationToken cancellation, X509Certificate2? certificate = null, int? h2cPort = null)
    {
        var sessions = new Dictionary<string, InferenceSession>(StringComparer.Ordinal);
        foreach (var model in models)
        {
            using var options = Fabrik.Execution.OnnxRuntime.OnnxRuntimeSettings.Defaults().CreateSessionOptions();
            sessions[model] = new InferenceSession(Path.Combine(repository, model, "1", "model.onnx"), options);
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen =>
        {
            if (certificate is not null)
            {
                listen.UseHttps(certificate);
            }
        }));
        if (h2cPort is { } grpc)
        {
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, grpc, listen => listen.Protocols = HttpProtocols.Http2));
        }
        var app = builder.Build();
        app.MapPost("/v2/models/{name}/infer", (HttpContext context) => InferAsync(context, sessions));
        app.MapGet("/v2/models/{name}", (HttpContext context) => WriteMetadataAsync(context, sessions[(string)context.Request.RouteValues["name"]!]));
        app.MapGet("/v2/health/live", (HttpContext context) => Task.CompletedTask);
        app.MapPost("/inference.GRPCInferenceService/ServerLive", AnswerServerLiveAsync);
        await app.RunAsync(cancellation);
        foreach (var session in sessions.Values)
        {
            session.Dispose();
        }
    }

    private static async Task AnswerServerLiveAsync(HttpContext context)
    {
        await context.Request.Body.CopyToAsync(Stream.Null);
        context.Response.ContentType = "application/grpc";
        context.Response.AppendTrailer("grpc-status", "0");
        await context.Response.Body.WriteAsync(LiveResponse);
    }

    private static async Task InferAsync(HttpContext context, Dictionary<string, InferenceSession> sessions)
    {
        var session = sessions[(string)context.Request.RouteValues["name"]!];
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        var bytes = body.GetBuffer().AsMemory(0, (int)body.Length);
        var headerLength = context.Request.Headers.TryGetValue("Inference-Header-Content-Length", out var header) ? int.Parse(header.ToString(), System.Globalization.CultureInfo.InvariantCulture) : bytes.Length;
        using var request = JsonDocument.Parse(bytes[..headerLength]);
        var binary = bytes[headerLength..];
        var binaryOutput = request.RootElement.TryGetProperty("parameters", out var parameters) && parameters.TryGetProperty("binary_data_output", out var flag) && flag.GetBoolean();

        var names = new List<string>();
        var values = new List<OrtValue>();
        try
        {
            foreach (var input in request.RootElement.GetProperty("inputs").EnumerateArray())
            {
                names.Add(input.GetProperty("name").GetString()!);
                var shape = input.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                var count = (int)shape.Aggregate(1L, (a, b) => a * b);
                var isFloat = input.GetProperty("datatype").GetString() == "FP32";
                if (input.TryGetProperty("parameters", out var tensorParameters) && tensorParameters.TryGetProperty("binary_data_size", out var size))
                {
                    var raw = binary[..size.GetInt32()].Span;
                    binary = binary[size.GetInt32()..];
                    values.Add(isFloat
                        ? OrtValue.CreateTensorValueFromMemory(MemoryMarshal.Cast<byte, float>(raw).ToArray(), shape)
                        : OrtValue.CreateTensorValueFromMemory(MemoryMarshal.Cast<byte, int>(raw).ToArray(), shape));
                    continue;
                }
                var data = input.GetProperty("data");
                if (isFloat)
                {
                    var array = new float[count];
                    var i = 0;
                    Flatten(data, element => array[i++] = element.GetSingle());
                    values.Add(OrtValue.CreateTensorValueFromMemory(array, shape));
                }
                else
                {
                    var array = new int[count];
                    var i = 0;
                    Flatten(data, element => array[i++] = element.GetInt32());
                    values.Add(OrtValue.CreateTensorValueFromMemory(array, shape));
                }
            }

            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, names, values, session.OutputNames);
            if (binaryOutput)
            {
                await WriteBinaryAsync(context, session.OutputNames, outputs);
            }
            else
            {
                await WriteJsonAsync(context, session.OutputNames, outputs);
            }
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }

    private static async Task WriteMetadataAsync(HttpContext context, InferenceSession session)
    {
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.BodyWriter);
        json.WriteStartObject();
        json.WriteStartArray("inputs");
        foreach (var (name, node) in session.InputMetadata)
        {
            json.WriteStartObject();
            json.WriteString("name", name);
            json.WriteString("datatype", node.ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float ? "FP32" : "INT32");
            json.WriteStartArray("shape");
            foreach (var dim in node.Dimensions)
            {
                json.WriteNumberValue(dim);
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void Flatten(JsonElement element, Action<JsonElement> add)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var child in element.EnumerateArray())
            {
                Flatten(child, add);
            }
        }
        else
        {
            add(element);
        }
    }

    private static async Task WriteJsonAsync(HttpContext context, IReadOnlyList<string> names, IReadOnlyList<OrtValue> outputs)
    {
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.BodyWriter);
        json.WriteStartObject();
        json.WriteStartArray("outputs");
        for (var o = 0; o < outputs.Count; o++)
        {
            var info = outputs[o].GetTensorTypeAndShape();
            var isFloat = info.ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float;
            json.WriteStartObject();
            json.WriteString("name", names[o]);
            json.WriteString("datatype", isFloat ? "FP32" : "INT32");
            json.WriteStartArray("shape");
            foreach (var dim in info.Shape)
            {
                json.WriteNumberValue(dim);
            }
            json.WriteEndArray();
            json.WriteStartArray("data");
            if (isFloat)
            {
                foreach (var value in outputs[o].GetTensorDataAsSpan<float>())
                {
                    json.WriteNumberValue(value);
                }
            }
            else
            {
                foreach (var value in outputs[o].GetTensorDataAsSpan<int>())
                {
                    json.WriteNumberValue(value);
                }
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static async Task WriteBinaryAsync(HttpContext context, IReadOnlyList<string> names, IReadOnlyList<OrtValue> outputs)
    {
        using var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            json.WriteStartArray("outputs");
            for (var o = 0; o < outputs.Count; o++)
            {
                var info = outputs[o].GetTensorTypeAndShape();
                json.WriteStartObject();
                json.WriteString("name", names[o]);
                json.WriteString("datatype", info.ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float ? "FP32" : "INT32");
                json.WriteStartArray("shape");
                foreach (var dim in info.Shape)
                {
                    json.WriteNumberValue(dim);
                }
                json.WriteEndArray();
                json.WriteStartObject("parameters");
                json.WriteNumber("binary_data_size", outputs[o].GetTensorMutableRawData().Length);
                json.WriteEndObject();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        context.Response.ContentType = "application/octet-stream";
        context.Response.Headers["Inference-Header-Content-Length"] = header.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await context.Response.Body.WriteAsync(header.GetBuffer().AsMemory(0, (int)header.Length));
        foreach (var output in outputs)
        {
            await context.Response.Body.WriteAsync(output.GetTensorMutableRawData().ToArray());
        }
    }
}
