using System.Text.Json.Nodes;

namespace Fabrik.Tests.Support;

/// <summary>One input of the identity sample, packed by <see cref="BinaryTensors"/>, with where it
/// lies in a shared-memory region or device allocation and the output that echoes it.</summary>
internal sealed record IdentityRegionTensor(string Name, string Output, string Datatype, JsonNode Shape, byte[] Packed, int Offset)
{
    /// <summary>Every input of the identity sample's first request, laid out from byte 8 with odd
    /// gaps between them, so that offsets are exercised and nothing relies on alignment.</summary>
    public static List<IdentityRegionTensor> Layout()
    {
        var tensors = new List<IdentityRegionTensor>();
        var offset = 8;
        foreach (var input in Samples.Sample("identity", 0)["inputs"]!.AsArray())
        {
            var name = (string)input!["name"]!;
            var packed = BinaryTensors.Pack((string)input["datatype"]!, input["data"]!);
            tensors.Add(new IdentityRegionTensor(name, name.Replace("INPUT_", "OUTPUT_", StringComparison.Ordinal), (string)input["datatype"]!, input["shape"]!.DeepClone(), packed, offset));
            offset += packed.Length + 5;
        }
        return tensors;
    }
}
