using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Models;
using Xunit;

namespace Fabrik.Tests.Models;

/// <summary>A model with no inputs (an ONNX graph holding only a Constant node) loads, is READY
/// and answers with its constant.</summary>
public sealed class NoInputModelTests
{
    private static readonly float[] Constant = [1.5f, -2f, 3.25f];

    [Fact]
    public async Task ConstantOnlyOnnxGraph_BecomesReadyAndReturnsItsConstant()
    {
        using var repository = new TemporaryRepository();
        var version = Path.Combine(repository.Path, "constant", "1");
        Directory.CreateDirectory(version);
        File.WriteAllBytes(Path.Combine(version, "model.onnx"), OnnxModels.Constant(Constant));
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false"]));

        var entry = server.Models.Models["constant"];
        Assert.True(entry.State == ModelState.Ready, entry.Reason);
        using var client = new HttpClient { BaseAddress = server.HttpAddress };
        using var response = await client.PostAsync("/v2/models/constant/infer", new StringContent("{\"inputs\":[]}", Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var output = JsonNode.Parse(body)!["outputs"]![0]!;
        Assert.Equal("OUTPUT0", (string)output["name"]!);
        Assert.Equal(Constant, output["data"]!.AsArray().Select(v => (float)v!.GetValue<double>()));
    }
}
