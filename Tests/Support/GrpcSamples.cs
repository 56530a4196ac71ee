using System.Text.Json.Nodes;
using Fabrik.Protocol.Triton;
using Google.Protobuf;

namespace Fabrik.Tests.Support;

/// <summary>gRPC requests built from models/generate.py's samples, with the inputs packed by
/// <see cref="BinaryTensors"/> (not by the server's codec) into <c>raw_input_contents</c>.</summary>
public static class GrpcSamples
{
    public static ModelInferRequest RawRequest(string model, JsonObject sample)
    {
        var request = new ModelInferRequest { ModelName = model };
        foreach (var input in sample["inputs"]!.AsArray())
        {
            var datatype = (string)input!["datatype"]!;
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = (string)input["name"]!, Datatype = datatype };
            tensor.Shape.AddRange(TensorAssert.Longs(input["shape"]!));
            request.Inputs.Add(tensor);
            request.RawInputContents.Add(ByteString.CopyFrom(BinaryTensors.Pack(datatype, input["data"]!)));
        }
        return request;
    }
}
