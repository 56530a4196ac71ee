using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Testing.Load;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Load;

/// <summary>The report's C clients against the real server: what wrk and h2load count as answered
/// must show up in the server's own success count (so a request the server refused cannot pass as
/// load). Skipped, with the reason, where the tools are not installed.</summary>
[Collection(KestrelServerCollection.Name)]
public sealed class ExternalClientsTests(KestrelServerFixture fixture)
{
    [ToolTheory("wrk")]
    [InlineData("json")]
    [InlineData("binary")]
    public async Task Wrk_PostsTheRequestThatTheServerAnswers(string format)
    {
        var http = fixture.Server.HttpAddress!;
        var before = await SuccessCountAsync(http, "simple");

        var result = await ExternalClients.WrkAsync(http, "simple", format == "binary", concurrency: 2, seconds: 1, default);

        Assert.True(result.Requests > 0 && result.InferencesPerSecond > 0);
        Assert.True(result.P50 > 0 && result.P50 <= result.P99, $"p50 {result.P50} µs, p99 {result.P99} µs");
        Assert.True(await SuccessCountAsync(http, "simple") - before >= result.Requests, "wrk counted requests the server did not count as successful");
    }

    [ToolFact("h2load")]
    public async Task H2load_SendsGrpcCallsThatTheServerAnswers()
    {
        var result = await ExternalClients.H2loadGrpcAsync(fixture.Server.GrpcAddress!, fixture.Server.HttpAddress!, "simple", concurrency: 2, seconds: 1, default);

        Assert.True(result.Requests > 0 && result.InferencesPerSecond > 0 && result.Average > 0);
    }

    private static async Task<long> SuccessCountAsync(Uri http, string model)
    {
        using var client = new HttpClient { BaseAddress = http };
        var stats = (await client.GetFromJsonAsync<JsonNode>($"/v2/models/{model}/stats"))!["model_stats"]!.AsArray();
        return stats.Sum(s => (long)s!["inference_stats"]!["success"]!["count"]!);
    }
}
