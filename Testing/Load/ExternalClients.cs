using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Fabrik.Testing.Load;

/// <summary>
/// Load from clients written in C, so that the report does not rest on our own load generator
/// alone (whose .NET costs share the cores with the server): <c>wrk</c> (Debian's wrk, HTTP/1.1,
/// a Lua script that POSTs a prepared body on every connection) and <c>h2load</c> (Debian's
/// nghttp2-client, HTTP/2) sending length-prefixed gRPC ModelInfer messages. Both run one thread
/// with one request in flight per connection, so concurrency N is N connections.
/// </summary>
public static partial class ExternalClients
{
    /// <summary>Why <paramref name="tool"/> cannot run here, or null when it can.</summary>
    public static string? Missing(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(folder => File.Exists(Path.Combine(folder, tool)))
            ? null
            : $"{tool} is not installed (apt-get install {(tool == "h2load" ? "nghttp2-client" : tool)})";

    /// <summary>Runs wrk for <paramref name="seconds"/> against <paramref name="model"/>'s infer
    /// endpoint with the body our load generator would send. Throws when any response is not 2xx.</summary>
    public static async Task<StepResult> WrkAsync(Uri baseAddress, string model, bool binary, int concurrency, int seconds, CancellationToken cancellation)
    {
        var (body, headerLength) = await InferenceClients.HttpBodyAsync(baseAddress, model, 1, binary, cancellation);
        var folder = Directory.CreateTempSubdirectory("fabrik-wrk-").FullName;
        try
        {
            var bodyPath = Path.Combine(folder, "body");
            await File.WriteAllBytesAsync(bodyPath, body, cancellation);
            var script = Path.Combine(folder, "post.lua");
            await File.WriteAllTextAsync(script, $$"""
                -- POSTs the prepared inference request on every connection.
                local file = assert(io.open("{{bodyPath}}", "rb"))
                wrk.method = "POST"
                wrk.body = file:read("*a")
                file:close()
                wrk.headers["Content-Type"] = "{{(binary ? "application/octet-stream" : "application/json")}}"
                {{(binary ? $"wrk.headers[\"Inference-Header-Content-Length\"] = \"{headerLength}\"" : "")}}
                """, cancellation);
            var output = await RunAsync("wrk", ["-t1", $"-c{concurrency}", $"-d{seconds}s", "--latency", "-s", script, new Uri(baseAddress, $"/v2/models/{model}/infer").ToString()], cancellation);
            var rejected = Number(output, @"Non-2xx or 3xx responses:\s+(\d+)") + Number(output, @"Socket errors:.*?read (\d+)");
            if (rejected > 0)
            {
                throw new InvalidOperationException($"wrk: {rejected} requests to {model} were not answered with 2xx:\n{output}");
            }
            var requestsPerSecond = Number(output, @"Requests/sec:\s+([\d.]+)");
            return new StepResult("Concurrency", concurrency, requestsPerSecond,
                Latency(output, "50%"), Latency(output, "90%"), 0, Latency(output, "99%"), Latency(output, "Latency"),
                0, 0, 0, 0, (long)Number(output, @"(\d+) requests in"), 0, Stable: true, Windows: 1);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// Runs h2load for <paramref name="seconds"/> with gRPC ModelInfer messages against
    /// <paramref name="grpcAddress"/>. gRPC answers every call with HTTP 200 and puts its status in
    /// the trailers, which h2load does not read, so the call is first made once with HttpClient and
    /// its grpc-status checked, and afterwards the server's own success count must have grown by
    /// what h2load counted as done. h2load reports no percentiles: the latencies are its mean only.
    /// </summary>
    public static async Task<StepResult> H2loadGrpcAsync(Uri grpcAddress, Uri httpAddress, string model, int concurrency, int seconds, CancellationToken cancellation)
    {
        var message = await InferenceClients.GrpcMessageAsync(grpcAddress, model, 1, cancellation);
        var path = "/inference.GRPCInferenceService/ModelInfer";
        await CheckGrpcCallAsync(grpcAddress, path, message, cancellation);
        var folder = Directory.CreateTempSubdirectory("fabrik-h2load-").FullName;
        try
        {
            var bodyPath = Path.Combine(folder, "message");
            await File.WriteAllBytesAsync(bodyPath, message, cancellation);
            var before = await SuccessCountAsync(httpAddress, model, cancellation);
            var output = await RunAsync("h2load", ["-t1", $"-c{concurrency}", "-m1", "-D", seconds.ToString(CultureInfo.InvariantCulture),
                "-d", bodyPath, "-H", "content-type: application/grpc", "-H", "te: trailers", new Uri(grpcAddress, path).ToString()], cancellation);
            var served = await SuccessCountAsync(httpAddress, model, cancellation) - before;
            var done = (long)Number(output, @"requests: \d+ total, \d+ started, (\d+) done");
            var failed = Number(output, @"(\d+) failed") + Number(output, @"(\d+) errored");
            if (failed > 0 || served < done)
            {
                throw new InvalidOperationException($"h2load: {done} calls done but the server counted {served} successful inferences ({failed} failed):\n{output}");
            }
            var mean = Latency(output, "time for request:", column: 2);
            return new StepResult("Concurrency", concurrency, Number(output, @"finished in [\d.]+m?s, ([\d.]+) req/s"),
                0, 0, 0, 0, mean, 0, 0, 0, 0, done, 0, Stable: true, Windows: 1);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task CheckGrpcCallAsync(Uri grpcAddress, string path, byte[] message, CancellationToken cancellation)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(grpcAddress, path))
        {
            Content = new ByteArrayContent(message),
            Version = HttpVersion.Version20, // h2c with prior knowledge, as h2load speaks it
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        using var response = await http.SendAsync(request, cancellation);
        var answer = await response.Content.ReadAsByteArrayAsync(cancellation);
        var status = response.TrailingHeaders.TryGetValues("grpc-status", out var values) ? values.First() : response.Headers.TryGetValues("grpc-status", out values) ? values.First() : "none";
        if (response.StatusCode != HttpStatusCode.OK || status != "0" || answer.Length <= 5)
        {
            throw new InvalidOperationException($"the gRPC message h2load would send is not answered successfully (HTTP {(int)response.StatusCode} over HTTP/{response.Version}, grpc-status {status}: {System.Text.Encoding.UTF8.GetString(answer)})");
        }
    }

    private static async Task<long> SuccessCountAsync(Uri httpAddress, string model, CancellationToken cancellation)
    {
        using var http = new HttpClient { BaseAddress = httpAddress };
        var stats = (await http.GetFromJsonAsync<JsonNode>($"/v2/models/{model}/stats", cancellation))!["model_stats"]!.AsArray();
        return stats.Sum(s => (long)s!["inference_stats"]!["success"]!["count"]!);
    }

    private static async Task<string> RunAsync(string tool, string[] arguments, CancellationToken cancellation)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellation);
        var errors = process.StandardError.ReadToEndAsync(cancellation);
        await process.WaitForExitAsync(cancellation);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} exited with {process.ExitCode}: {await errors}");
        }
        return await output;
    }

    private static double Number(string output, string pattern) =>
        Regex.Match(output, pattern) is { Success: true } match ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;

    /// <summary>A latency in µs from a line that starts with <paramref name="label"/>: the
    /// <paramref name="column"/>-th value after it, with its unit (us, ms or s).</summary>
    private static double Latency(string output, string label, int column = 0)
    {
        foreach (var line in output.Split('\n'))
        {
            var trimmed = line.Trim();
            if (!trimmed.StartsWith(label, StringComparison.Ordinal))
            {
                continue;
            }
            var values = LatencyValue().Matches(trimmed[label.Length..]);
            if (values.Count <= column)
            {
                return 0;
            }
            var value = double.Parse(values[column].Groups[1].Value, CultureInfo.InvariantCulture);
            return values[column].Groups[2].Value switch { "us" => value, "ms" => value * 1000, _ => value * 1_000_000 };
        }
        return 0;
    }

    [GeneratedRegex(@"([\d.]+)(us|ms|s)\b")]
    private static partial Regex LatencyValue();
}
