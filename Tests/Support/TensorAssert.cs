using System.Globalization;
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
            var datatype = (string)expected["datatype"]!;
            for (var i = 0; i < expectedData.Count; i++)
            {
                var e = expectedData[i];
                var a = actualData[i];
                Assert.True(ElementsEqual(datatype, e, a, tolerance),
                    $"output '{name}' element {i}: expected {e.ToJsonString()}, got {a.ToJsonString()} (tolerance {tolerance})");
            }
        }
    }

    /// <summary>Compares two JSON elements as values of <paramref name="datatype"/>: floats after
    /// rounding to that type (JSON writers print the shortest text for the type, not the double),
    /// integers exactly (64-bit values do not survive a trip through double).</summary>
    public static bool ElementsEqual(string datatype, JsonValue expected, JsonValue actual, double tolerance)
    {
        if (expected.GetValueKind() != JsonValueKind.Number)
        {
            return JsonNode.DeepEquals(expected, actual);
        }
        if (actual.GetValueKind() != JsonValueKind.Number)
        {
            return false;
        }
        var e = expected.ToJsonString();
        var a = actual.ToJsonString();
        double Float(string text) => datatype switch
        {
            "FP32" => float.Parse(text, CultureInfo.InvariantCulture),
            "FP16" => (double)(Half)double.Parse(text, CultureInfo.InvariantCulture),
            "BF16" => float.Parse(text, CultureInfo.InvariantCulture),
            _ => double.Parse(text, CultureInfo.InvariantCulture),
        };
        if (datatype is "FP32" or "FP16" or "BF16" or "FP64")
        {
            var difference = Math.Abs(Float(e) - Float(a));
            return tolerance == 0 ? Float(e).Equals(Float(a)) : difference <= tolerance;
        }
        return decimal.Parse(e, NumberStyles.Float, CultureInfo.InvariantCulture) == decimal.Parse(a, NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    public static long[] Longs(JsonNode array) => array.AsArray().Select(node => node!.GetValue<long>()).ToArray();

    /// <summary>Row-major flattening of nested JSON arrays.</summary>
    public static List<JsonValue> Flatten(JsonNode node) => JsonTensors.Flatten(node);
}
