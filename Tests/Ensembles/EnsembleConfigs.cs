using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Fabrik.Tests.Ensembles;

/// <summary>The ensembles the tests serve, and a JSON client for <c>simple</c>-shaped requests:
/// INT32 <c>A</c> and <c>B</c> of 16 values a row.</summary>
internal static class EnsembleConfigs
{
    /// <summary><c>simple</c> twice in a row: (A+B)+(A−B) = 2A and (A+B)−(A−B) = 2B.</summary>
    public const string Chain = """
        max_batch_size: 8
        input [ { name: "A" data_type: TYPE_INT32 dims: [ 16 ] }, { name: "B" data_type: TYPE_INT32 dims: [ 16 ] } ]
        output [ { name: "TWICE_A" data_type: TYPE_INT32 dims: [ 16 ] }, { name: "TWICE_B" data_type: TYPE_INT32 dims: [ 16 ] } ]
        ensemble_scheduling { step [
          { model_name: "simple" model_version: -1
            input_map { key: "INPUT0" value: "A" } input_map { key: "INPUT1" value: "B" }
            output_map { key: "OUTPUT0" value: "sum" } output_map { key: "OUTPUT1" value: "diff" } },
          { model_name: "simple"
            input_map { key: "INPUT0" value: "sum" } input_map { key: "INPUT1" value: "diff" }
            output_map { key: "OUTPUT0" value: "TWICE_A" } output_map { key: "OUTPUT1" value: "TWICE_B" } }
        ] }
        """;

    public static int[] Values(int seed) => [.. Enumerable.Range(0, 16).Select(i => (seed * 31) + (i * 7) - 50)];

    /// <summary>POSTs A and B (one row each) to <paramref name="model"/>; the status, and the body
    /// as JSON (an error's too).</summary>
    public static async Task<(HttpStatusCode Status, JsonNode Body)> InferAsync(HttpClient client, string model, int[] a, int[] b, string first = "A", string second = "B")
    {
        var body = new JsonObject
        {
            ["id"] = "request-" + a[0].ToString(CultureInfo.InvariantCulture),
            ["inputs"] = new JsonArray(JsonTensors.Row(first, "INT32", a), JsonTensors.Row(second, "INT32", b)),
        };
        using var response = await client.PostAsJsonAsync($"/v2/models/{model}/infer", body);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    /// <summary>The INT32 values of output <paramref name="name"/>.</summary>
    public static int[] Output(JsonNode body, string name) => JsonTensors.Output<int>(body, name);
}
