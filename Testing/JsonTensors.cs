using System.Text.Json.Nodes;

namespace Fabrik.Testing;

/// <summary>Tensor data as the KServe v2 JSON form writes it: nested arrays, row-major.</summary>
public static class JsonTensors
{
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

    /// <summary>A tensor of one row of <paramref name="values"/> in the KServe v2 JSON form.</summary>
    public static JsonObject Row<T>(string name, string datatype, T[] values) => new()
    {
        ["name"] = name,
        ["datatype"] = datatype,
        ["shape"] = new JsonArray(1, values.Length),
        ["data"] = new JsonArray([.. values.Select(value => JsonValue.Create(value))]),
    };

    /// <summary>The flat data of output <paramref name="name"/> in a response body.</summary>
    public static T[] Output<T>(JsonNode body, string name) =>
        [.. Flatten(body["outputs"]!.AsArray().Single(output => (string)output!["name"]! == name)!["data"]!).Select(value => value.GetValue<T>())];
}
