using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Fabrik.Testing;

/// <summary>
/// Where a model's requests are, read from outside the server the way an operator reads it: runs
/// started (the statistics' queue count, recorded when a request leaves the queue for a run) and
/// requests still queued (the nv_inference_pending_request_count gauge). Tests wait on these
/// instead of sleeping while a request travels.
/// </summary>
public static class ModelProgress
{
    /// <summary>Requests of <paramref name="model"/> (all versions) whose run has started.</summary>
    public static async Task<long> RunsStartedAsync(HttpClient http, string model)
    {
        var stats = (await http.GetFromJsonAsync<JsonNode>($"/v2/models/{model}/stats"))!["model_stats"]!.AsArray();
        return stats.Sum(version => (long)version!["inference_stats"]!["queue"]!["count"]!);
    }

    /// <summary>Requests of <paramref name="model"/> waiting in its queue, from the metrics
    /// listener at <paramref name="metrics"/>.</summary>
    public static async Task<long> PendingAsync(Uri metrics, string model)
    {
        using var http = new HttpClient { BaseAddress = metrics };
        var text = await http.GetStringAsync("/metrics");
        var label = $"model=\"{model}\"";
        return text.Split('\n')
            .Where(line => line.StartsWith("nv_inference_pending_request_count{", StringComparison.Ordinal) && line.Contains(label, StringComparison.Ordinal))
            .Sum(line => (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }
}
