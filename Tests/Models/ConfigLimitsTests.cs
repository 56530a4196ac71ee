using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Configuration;
using Fabrik.Hosting;
using Xunit;

namespace Fabrik.Tests.Models;

/// <summary>
/// A config.pbtxt is untrusted input: a file nested too deep or too large makes its own model
/// UNAVAILABLE with the reason, and the server and every other model stay up.
/// </summary>
public sealed class ConfigLimitsTests
{
    private const int HostileDepth = 100_000;

    [Fact]
    public async Task Startup_ConfigNested100000Deep_OnlyThatModelIsUnavailable()
    {
        using var repository = new TemporaryRepository().Add("simple").Add("simple", "deep");
        File.AppendAllText(Path.Combine(repository.Path, "deep", "config.pbtxt"), Nested(HostileDepth));

        // A separate process: a parser without a depth bound dies here of a stack overflow.
        await using var fabrik = await FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false", "--exit-on-error=false");
        using var client = new HttpClient { BaseAddress = fabrik.Address };

        var index = await IndexAsync(client);
        Assert.Equal("UNAVAILABLE", (string)index["deep"]["state"]!);
        Assert.Contains($"nested more than {TextFormatParser.MaximumDepth} deep", (string)index["deep"]["reason"]!, StringComparison.Ordinal);
        Assert.Equal("READY", (string)index["simple"]["state"]!);
        using var live = await client.GetAsync("/v2/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Fact]
    public async Task Poll_DeepOrHugeConfigWrittenIntoARunningRepository_LeavesServerAndOtherModelsServing()
    {
        using var repository = new TemporaryRepository().Add("simple");
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false", "--model-control-mode=poll", "--repository-poll-secs=3600"]));
        repository.Add("simple", "deep").Add("simple", "huge");
        File.AppendAllText(Path.Combine(repository.Path, "deep", "config.pbtxt"), Nested(HostileDepth));
        File.AppendAllText(Path.Combine(repository.Path, "huge", "config.pbtxt"), "# " + new string('x', TextFormatParser.MaximumLength) + "\n");

        await server.Poller.PollOnceAsync(default);

        Assert.Equal(Fabrik.Models.ModelState.Unavailable, server.Models.Models["deep"].State);
        Assert.Contains("nested more than", server.Models.Models["deep"].Reason, StringComparison.Ordinal);
        Assert.Equal(Fabrik.Models.ModelState.Unavailable, server.Models.Models["huge"].State);
        Assert.Contains($"the limit is {TextFormatParser.MaximumLength}", server.Models.Models["huge"].Reason, StringComparison.Ordinal);
        using var client = new HttpClient { BaseAddress = server.HttpAddress };
        var body = new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() }.ToJsonString();
        using var response = await client.PostAsync("/v2/models/simple/infer", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public void Parse_DepthAtTheLimitIsAcceptedAndOneMoreIsRefused()
    {
        var atLimit = TextFormatParser.Parse(Nested(TextFormatParser.MaximumDepth));
        Assert.Equal("unknown", Assert.Single(atLimit.Fields).Name);

        var error = Assert.Throws<ConfigFormatException>(() => TextFormatParser.Parse(Nested(TextFormatParser.MaximumDepth + 1)));
        // "unknown {" then "a {" per level: the brace one level too deep is at column 9 + 3 * limit.
        Assert.Contains($"line 1, column {9 + (3 * TextFormatParser.MaximumDepth)}: messages are nested more than {TextFormatParser.MaximumDepth} deep", error.Message, StringComparison.Ordinal);
    }

    /// <summary>An unknown field whose value is <paramref name="depth"/> nested messages.</summary>
    private static string Nested(int depth) =>
        "unknown {" + string.Concat(Enumerable.Repeat("a {", depth - 1)) + new string('}', depth) + "\n";

    private static async Task<Dictionary<string, JsonNode>> IndexAsync(HttpClient client)
    {
        using var response = await client.PostAsync("/v2/repository/index", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray().ToDictionary(entry => (string)entry!["name"]!, entry => entry!);
    }
}
