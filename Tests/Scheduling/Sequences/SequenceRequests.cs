using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Fabrik.Tests.Scheduling.Sequences;

/// <summary>Requests to the sample accumulator as Triton's HTTP clients send them: the sequence
/// parameters beside one INT32 input, written out by hand.</summary>
internal static class SequenceRequests
{
    public static string AccumulatorJson(ulong id, int value, bool start, bool end) =>
        $$"""{"parameters":{"sequence_id":{{id}},"sequence_start":{{(start ? "true" : "false")}},"sequence_end":{{(end ? "true" : "false")}}},"inputs":[{"name":"INPUT","datatype":"INT32","shape":[1,1],"data":[{{value}}]}]}""";

    /// <summary>Sends one value of sequence <paramref name="id"/>; returns the running sum.</summary>
    public static async Task<int> Accumulate(HttpClient client, ulong id, int value, bool start, bool end)
    {
        var (status, body) = await Post(client, "sequence_accumulator", AccumulatorJson(id, value, start, end));
        Assert.True(status == HttpStatusCode.OK, body);
        return (int)JsonNode.Parse(body)!["outputs"]![0]!["data"]![0]!;
    }

    public static async Task<(HttpStatusCode Status, string Body)> Post(HttpClient client, string model, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await client.PostAsync($"/v2/models/{model}/infer", content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
