using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>Compares v2 JSON output tensors with expected ones, element by element.</summary>
public static class TensorAssert
{
    /// <summary>Asserts that <paramref name="actualOutputs"/> holds each expected output with the
    /// same datatype and shape, and data within <paramref name="tolerance"/> (exact for integers
    /// and strings when the tolerance is 0).</summary>
    public static void OutputsMatch(JsonArray expectedOutputs, JsonArray actualOutputs, double tolerance)
    {
        Assert.Equal(expectedOutputs.Count, actualOutputs.Count);
        foreach (var expected in expectedOutputs)
        {
            var name = (string)expected!["name"]!;
            var actual = actualOutputs.SingleOrDefault(output => (string?)output!["name"] == name);
            Assert.True(actual is not null, $"output '{name}' is missing from the response");
            Assert.Equal((string)expected["datatype"]!, (string)actual!["datatype"]!);
            Assert.Equal(Longs(expected["shape"]!), Longs(actual["shape"]!));

            var expectedData = Flatten(expected["data"]!);
            var actualData = Flatten(actual["data"]!);
            Assert.Equal(expectedData.Count, actualData.Count);
            for (var i = 0; i < expectedData.Count; i++)
            {
                var e = expectedData[i];
                var a = actualData[i];
                if (e.GetValueKind() == JsonValueKind.Number)
                {
                    var difference = Math.Abs(e.GetValue<double>() - a.GetValue<double>());
                    Assert.True(difference <= tolerance,
                        $"output '{name}' element {i}: expected {e.ToJsonString()}, got {a.ToJsonString()} (tolerance {tolerance})");
                }
                else
                {
                    Assert.True(JsonNode.DeepEquals(e, a), $"output '{name}' element {i}: expected {e.ToJsonString()}, got {a.ToJsonString()}");
                }
            }
        }
    }

    public static long[] Longs(JsonNode array) => array.AsArray().Select(node => node!.GetValue<long>()).ToArray();

    /// <summary>Row-major flattening of nested JSON arrays.</summary>
    public static List<JsonValue> Flatten(JsonNode node)
    {
        var values = new List<JsonValue>();
        Add(node);
        return values;

        void Add(JsonNode? item)
        {
            if (item is JsonArray array)
            {
                foreach (var child in array)
                {
                    Add(child);
                }
            }
            else
            {
                values.Add(item!.AsValue());
            }
        }
    }
}
