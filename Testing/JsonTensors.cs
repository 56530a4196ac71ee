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
}
