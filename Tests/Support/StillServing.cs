using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>After something hostile: the server still answers a valid request correctly.</summary>
internal static class StillServing
{
    /// <summary>Posts the first stored <c>simple</c> sample and compares with its stored outputs.</summary>
    public static async Task AssertSimpleAsync(HttpClient client)
    {
        var sample = Samples.Sample("simple", 0);
        var request = new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() };
        using var content = new StringContent(request.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await client.PostAsync("/v2/models/simple/infer", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outputs"]!.AsArray(), 0);
    }
}
