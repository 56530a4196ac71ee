using System.Text.Json.Nodes;
using Fabrik.Protocol.Triton;

namespace Fabrik.Tests.Caching;

/// <summary>One model version's statistics-extension counters that the cache tests watch.</summary>
internal readonly record struct CacheCounts(long Executions, long Inferences, long Successes, long Queued, long Hits, long Misses)
{
    /// <summary>Reads them from <c>GET /v2/models/{model}/stats</c>, with an API key when given.</summary>
    public static async Task<CacheCounts> ReadAsync(HttpClient http, string model, string? bearer = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/models/{model}/stats");
        if (bearer is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        }
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var stats = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["model_stats"]![0]!;
        long Count(string name) => (long)stats["inference_stats"]![name]!["count"]!;
        return new CacheCounts((long)stats["execution_count"]!, (long)stats["inference_count"]!, Count("success"), Count("queue"), Count("cache_hit"), Count("cache_miss"));
    }

    /// <summary>Reads them from the ModelStatistics RPC.</summary>
    public static async Task<CacheCounts> ReadAsync(GRPCInferenceService.GRPCInferenceServiceClient grpc, string model)
    {
        var stats = (await grpc.ModelStatisticsAsync(new ModelStatisticsRequest { Name = model })).ModelStats.Single();
        var inference = stats.InferenceStats;
        return new CacheCounts((long)stats.ExecutionCount, (long)stats.InferenceCount, (long)inference.Success.Count, (long)inference.Queue.Count,
            (long)inference.CacheHit.Count, (long)inference.CacheMiss.Count);
    }

    public static CacheCounts operator -(CacheCounts after, CacheCounts before) => new(
        after.Executions - before.Executions, after.Inferences - before.Inferences, after.Successes - before.Successes,
        after.Queued - before.Queued, after.Hits - before.Hits, after.Misses - before.Misses);
}
