using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Configuration;
using Fabrik.Hosting;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Fabrik.Tests.Caching;

/// <summary>
/// Turning the cache on: <c>--cache-config</c> in Triton's spellings (and its older
/// <c>--response-cache-byte-size</c>), other caches and keys accepted with one warning, malformed
/// values refused; <c>response_cache</c> in config.pbtxt; and the models Triton does not cache
/// even when asked: any model when the server has no cache, decoupled and sequence-batched ones.
/// </summary>
public sealed class ResponseCacheSettingsTests
{
    private const string Enable = "response_cache { enable: true }";

    [Theory]
    [InlineData(new[] { "--cache-config", "local,size=1048576" }, 1048576L)]
    [InlineData(new[] { "--cache-config=local,size=4096" }, 4096L)]
    [InlineData(new[] { "--cache-config", "local,size=1", "--cache-config", "local,size=2048" }, 2048L)]
    [InlineData(new[] { "--response-cache-byte-size", "65536" }, 65536L)]
    [InlineData(new[] { "--response-cache-byte-size=0" }, 0L)]
    public void CacheConfig_Local_SetsTheSize(string[] arguments, long size)
    {
        var options = ServerOptions.Parse(arguments);

        Assert.Equal(size, options.ResponseCache.LocalSizeBytes);
        Assert.Equal(size > 0, options.ResponseCache.Enabled);
        Assert.Empty(options.FlagWarnings);
    }

    [Fact]
    public void NoCacheConfig_NoCache() => Assert.False(ServerOptions.Parse([]).ResponseCache.Enabled);

    [Fact]
    public void CacheConfig_AnotherCache_WarnsOnceAndChangesNothing()
    {
        var options = ServerOptions.Parse(["--cache-config", "redis,host=localhost", "--cache-config", "redis,port=6379"]);

        Assert.False(options.ResponseCache.Enabled);
        Assert.Equal("--cache-config redis: only the local cache is built in; the redis cache is not used", Assert.Single(options.FlagWarnings));
    }

    [Fact]
    public void CacheConfig_ALocalKeyOtherThanSize_Warns()
    {
        var options = ServerOptions.Parse(["--cache-config", "local,size=1024", "--cache-config", "local,shards=4"]);

        Assert.Equal(1024, options.ResponseCache.LocalSizeBytes);
        Assert.Equal("--cache-config local,shards: the local cache takes only size; shards changes nothing", Assert.Single(options.FlagWarnings));
    }

    [Theory]
    [InlineData("local")]
    [InlineData("size=1024")]
    [InlineData(",size=1024")]
    [InlineData("local,size")]
    [InlineData("local,size=")]
    [InlineData("local,size=-1")]
    [InlineData("local,size=1e6")]
    [InlineData("local,size=99999999999999999999")]
    public void CacheConfig_Malformed_IsRefusedWithTheValue(string value)
    {
        var error = Assert.Throws<ArgumentException>(() => ServerOptions.Parse(["--cache-config", value]));

        Assert.Contains(value, error.Message, StringComparison.Ordinal);
        Assert.Contains("--cache-config", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CacheDirectory_IsAcceptedWithAWarning() =>
        Assert.Contains("--cache-directory has no effect here", Assert.Single(ServerOptions.Parse(["--cache-directory", "/opt/tritonserver/caches"]).FlagWarnings), StringComparison.Ordinal);

    [Theory]
    [InlineData(Enable, true, true)]
    [InlineData("response_cache { enable: false }", false, false)]
    [InlineData("", false, false)]
    [InlineData(Enable + "\nmodel_transaction_policy { decoupled: true }", true, false)]
    [InlineData(Enable + "\nmodel_transaction_policy { decoupled: false }", true, true)]
    [InlineData(Enable + "\nsequence_batching { }", true, false)]
    public void ConfigPbtxt_ResponseCache(string text, bool enabled, bool cached)
    {
        var config = ModelConfigReader.Parse("platform: \"onnxruntime_onnx\"\n" + text, "m");

        Assert.Equal(enabled, config.ResponseCache);
        Assert.Equal(cached, config.CachesResponses);
        Assert.DoesNotContain("response_cache", config.IgnoredFields);
    }

    [Fact]
    public async Task ModelEnablesTheCache_ServerHasNone_WarnsAndRunsEveryRequest()
    {
        using var repository = new TemporaryRepository().Add("mlp", extraConfig: Enable);
        var (executions, log, families) = await RunTwiceAsync(repository, "mlp");

        Assert.Equal((2L, 0L, 0L), executions);
        Assert.DoesNotContain(families, name => name.StartsWith("nv_cache_", StringComparison.Ordinal));
        Assert.Contains(log.Entries, entry => entry.Level == LogLevel.Warning
            && entry.Message == "Model 'mlp': response_cache is enabled but the server has no response cache (--cache-config local,size=<bytes>); responses are not cached");
    }

    [Fact]
    public async Task SequenceBatchedModel_IsNeverCached()
    {
        using var repository = new TemporaryRepository().Add("mlp", extraConfig: Enable + "\nsequence_batching { }");
        // Each request is a whole sequence (start and end), so the two are identical.
        var sequence = new JsonObject { ["sequence_id"] = 7, ["sequence_start"] = true, ["sequence_end"] = true };
        var (executions, log, _) = await RunTwiceAsync(repository, "mlp", sequence, "--cache-config", "local,size=1048576");

        Assert.Equal((2L, 0L, 0L), executions);
        Assert.Contains(log.Entries, entry => entry.Message == "Model 'mlp': response_cache is enabled but the model is sequence-batched, and such models are never cached");
    }

    /// <summary>Sends the same request twice; returns the executions, hits and misses it caused,
    /// the log, and the metric families exported.</summary>
    private static Task<((long, long, long) Counts, CapturedLog Log, IReadOnlyCollection<string> Families)> RunTwiceAsync(TemporaryRepository repository, string model, params string[] flags) =>
        RunTwiceAsync(repository, model, null, flags);

    /// <summary>The same, with <paramref name="parameters"/> as the request's parameters.</summary>
    private static async Task<((long, long, long) Counts, CapturedLog Log, IReadOnlyCollection<string> Families)> RunTwiceAsync(TemporaryRepository repository, string model, JsonObject? parameters, params string[] flags)
    {
        var log = new CapturedLog();
        await using var server = await FabrikServer.StartAsync(
            ServerOptions.Parse(["--model-repository", repository.Path, "--http-port=0", "--grpc-port=0", "--metrics-port=0", .. flags]),
            configureHost: web => web.ConfigureLogging(logging => logging.AddProvider(log)));
        using var http = new HttpClient { BaseAddress = server.HttpAddress };
        var body = new JsonObject { ["inputs"] = Samples.Sample("mlp", 0)["inputs"]!.DeepClone() };
        if (parameters is not null)
        {
            body["parameters"] = parameters;
        }
        var before = await CacheCounts.ReadAsync(http, model);
        for (var i = 0; i < 2; i++)
        {
            using var response = await http.PostAsync($"/v2/models/{model}/infer", JsonContent.Create(body));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        var after = await CacheCounts.ReadAsync(http, model) - before;
        var families = await Fabrik.Tests.Observability.MetricsEndpointTests.ScrapeAsync(server);
        return ((after.Executions, after.Hits, after.Misses), log, families.Keys.ToList());
    }
}
