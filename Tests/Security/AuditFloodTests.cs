using System.Net;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Security;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Fabrik.Tests.Security;

/// <summary>
/// A flood of refused requests cannot fill a disk through the audit log: a refusal's path is cut
/// to a documented length, and repeats of one refusal (same client and reason) within a window
/// are counted and written once as "repeated": N, with the hash chain intact.
/// </summary>
public sealed class AuditFloodTests : IDisposable
{
    private const int Flood = 200;
    private readonly string _folder = Directory.CreateTempSubdirectory("fabrik-audit-flood-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task UnauthenticatedFlood_WritesAFewBytesPerRefusedRequest_AndTheChainVerifies()
    {
        using var repository = new TemporaryRepository().Add("simple");
        var keys = Path.Combine(_folder, "keys.json");
        File.WriteAllText(keys, AuthTests.KeyFile(("ci", "flood-key-91d3", ["infer:simple"])));
        var log = Path.Combine(_folder, "audit.jsonl");
        var path = "/v2/models/" + new string('x', 8000);
        long before, after;
        await using (var host = await InMemoryFabrik.StartAsync("--model-repository", repository.Path, "--auth-keys", keys, "--audit-log", log))
        {
            using var http = host.CreateHttpClient();
            before = new FileInfo(log).Length;
            for (var i = 0; i < Flood; i++)
            {
                using var response = await http.GetAsync(path);
                // 401, or 429 once the client is past the failure limit: refused either way.
                Assert.True(response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.TooManyRequests, response.StatusCode.ToString());
            }
            after = new FileInfo(log).Length;
        }
        // One full record for the flood's first request, the rest counted (about 8.2 KB each before).
        var perRequest = (after - before) / (double)Flood;
        Assert.True(perRequest < 64, $"{perRequest:F1} bytes per refused request");

        // Every refused request is accounted for: once as a record of its own, or in a summary's count.
        var refusals = ReadRecords(log).Where(record => (string?)record["event"] is "auth-failure" or "auth-rate-limited").ToList();
        Assert.InRange(refusals.Count, 2, 4);
        Assert.Equal(Flood, refusals.Sum(record => record["repeated"] is { } repeated ? (long)repeated : 1));
        Assert.All(refusals, record =>
        {
            var request = (string)record["request"]!;
            Assert.StartsWith("GET /v2/models/xxx", request, StringComparison.Ordinal);
            Assert.True(request.Length <= AuditLog.MaxRequestLength + 16, request);
        });
        var (exit, output, error) = await FabrikCommand.RunAsync("audit", "verify", log);
        Assert.True(exit == 0, error);
        Assert.Contains("intact", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RefusedLongPaths_AreCutInTheServerLogToo()
    {
        using var repository = new TemporaryRepository().Add("simple");
        var keys = Path.Combine(_folder, "log-keys.json");
        File.WriteAllText(keys, AuthTests.KeyFile(("ci", "log-key-5be0", ["infer:simple"])));
        var log = new CapturedLog(LogLevel.Information);
        var options = ServerOptions.Parse(["--model-repository", repository.Path, "--auth-keys", keys, "--http-port", "0", "--allow-grpc=false", "--allow-metrics=false"]);
        await using (var server = await FabrikServer.StartAsync(options, configureHost: web => web.ConfigureLogging(logging => logging.AddProvider(log))))
        {
            using var http = new HttpClient { BaseAddress = server.HttpAddress };
            for (var i = 0; i < 5; i++)
            {
                using var response = await http.GetAsync("/v2/models/" + new string('y', 8000));
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            }
        }

        var refusals = log.Entries.Where(entry => entry.Message.StartsWith("Authentication failed", StringComparison.Ordinal)).ToList();
        Assert.Equal(5, refusals.Count);
        Assert.All(refusals, entry => Assert.InRange(entry.Message.Length, 100, AuditLog.MaxRequestLength + 120));
    }

    [Fact]
    public async Task RepeatsAreCountedWithinTheWindow_PerClientAndReason_ThenSummarised()
    {
        var time = new ManualTimeProvider();
        var log = Path.Combine(_folder, "windowed.jsonl");
        using (var audit = new AuditLog(log, time: time))
        {
            for (var i = 0; i < 10; i++)
            {
                audit.WriteRefusal("auth-failure", "10.0.0.1", $"GET /v2/{i}", ("reason", "unknown key"));
                audit.WriteRefusal("auth-failure", "10.0.0.2", $"GET /v2/{i}", ("reason", "unknown key"));
                audit.WriteRefusal("auth-failure", "10.0.0.1", $"GET /v2/{i}", ("reason", "no credentials"));
            }
            Assert.Equal(3, ReadRecords(log).Count);

            time.Advance(AuditLog.RefusalWindow);
            audit.WriteRefusal("auth-failure", "10.0.0.1", "GET /v2/late", ("reason", "unknown key"));
            var records = ReadRecords(log);
            // The three summaries (9 repeats each, the window having passed for all), then the new refusal.
            var summaries = records.Where(record => record["repeated"] is not null).ToList();
            Assert.Equal(3, summaries.Count);
            Assert.All(summaries, summary => Assert.Equal(9, (long)summary["repeated"]!));
            Assert.Equal("GET /v2/9", (string?)summaries[0]["request"]);
            Assert.Equal("GET /v2/late", (string?)records[^1]["request"]);
            Assert.Null(records[^1]["repeated"]);
        }
        var (exit, _, error) = await FabrikCommand.RunAsync("audit", "verify", log);
        Assert.True(exit == 0, error);
    }

    private static List<JsonNode> ReadRecords(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return [.. reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonNode.Parse(line)!)];
    }
}
