using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Models;
using Fabrik.Tests.Support;
using Google.Protobuf;
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
        File.WriteAllBytes(Path.Combine(version, "model.onnx"), ConstantModel());
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", repository.Path, "--http-port", "0", "--allow-grpc=false"]));

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

    /// <summary>An ONNX ModelProto (opset 17) whose graph is one Constant node producing FP32 [3],
    /// encoded field by field from onnx.proto.</summary>
    private static byte[] ConstantModel()
    {
        var tensor = Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.Varint); w.WriteInt64(Constant.Length); // dims
            w.WriteTag(2, WireFormat.WireType.Varint); w.WriteInt32(1);               // data_type FLOAT
            w.WriteTag(4, WireFormat.WireType.LengthDelimited);                        // float_data, packed
            w.WriteLength(Constant.Length * 4);
            foreach (var value in Constant)
            {
                w.WriteFloat(value);
            }
        });
        var attribute = Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteString("value");
            w.WriteTag(5, WireFormat.WireType.LengthDelimited); w.WriteBytes(tensor);
            w.WriteTag(20, WireFormat.WireType.Varint); w.WriteInt32(4); // AttributeType TENSOR
        });
        var node = Message(w =>
        {
            w.WriteTag(2, WireFormat.WireType.LengthDelimited); w.WriteString("OUTPUT0");
            w.WriteTag(4, WireFormat.WireType.LengthDelimited); w.WriteString("Constant");
            w.WriteTag(5, WireFormat.WireType.LengthDelimited); w.WriteBytes(attribute);
        });
        var dimension = Message(w => { w.WriteTag(1, WireFormat.WireType.Varint); w.WriteInt64(Constant.Length); });
        var shape = Message(w => { w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteBytes(dimension); });
        var tensorType = Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.Varint); w.WriteInt32(1);
            w.WriteTag(2, WireFormat.WireType.LengthDelimited); w.WriteBytes(shape);
        });
        var type = Message(w => { w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteBytes(tensorType); });
        var output = Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteString("OUTPUT0");
            w.WriteTag(2, WireFormat.WireType.LengthDelimited); w.WriteBytes(type);
        });
        var graph = Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteBytes(node);
            w.WriteTag(2, WireFormat.WireType.LengthDelimited); w.WriteString("constant");
            w.WriteTag(12, WireFormat.WireType.LengthDelimited); w.WriteBytes(output);
        });
        var opset = Message(w => { w.WriteTag(2, WireFormat.WireType.Varint); w.WriteInt64(17); });
        return Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.Varint); w.WriteInt64(8); // ir_version
            w.WriteTag(7, WireFormat.WireType.LengthDelimited); w.WriteBytes(graph);
            w.WriteTag(8, WireFormat.WireType.LengthDelimited); w.WriteBytes(opset);
        }).ToByteArray();
    }

    private static ByteString Message(Action<CodedOutputStream> write)
    {
        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        write(output);
        output.Flush();
        return ByteString.CopyFrom(stream.ToArray());
    }
}
