using System.Text;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// Lists the external-data files an ONNX model refers to, by reading just enough of its protobuf:
/// ModelProto.graph (7) → GraphProto.initializer (5) → TensorProto.external_data (13) entries whose
/// key is "location". ONNX Runtime opens those paths relative to the model, so the loader checks
/// each one stays inside the model repository before the model is handed to ONNX Runtime.
/// </summary>
internal static class OnnxExternalData
{
    private const int ModelGraph = 7;
    private const int GraphInitializer = 5;
    private const int GraphNode = 1;
    private const int NodeAttribute = 5;
    private const int AttributeTensor = 5;
    private const int AttributeTensors = 11;
    private const int AttributeGraph = 6;
    private const int AttributeGraphs = 10;
    private const int TensorExternalData = 13;

    /// <summary>The "location" values of every external tensor, as written in the file.</summary>
    /// <exception cref="InvalidDataException">The file is not a well-formed protobuf.</exception>
    public static IReadOnlyList<string> Locations(byte[] model)
    {
        var locations = new List<string>();
        foreach (var (field, graph) in Fields(model))
        {
            if (field == ModelGraph)
            {
                Graph(graph, locations);
            }
        }
        return locations;
    }

    private static void Graph(ReadOnlyMemory<byte> graph, List<string> locations)
    {
        foreach (var (field, value) in Fields(graph))
        {
            if (field == GraphInitializer)
            {
                Tensor(value, locations);
            }
            else if (field == GraphNode)
            {
                // Constant nodes and subgraphs (If, Loop) can hold tensors too.
                foreach (var (nodeField, attribute) in Fields(value))
                {
                    if (nodeField != NodeAttribute)
                    {
                        continue;
                    }
                    foreach (var (attributeField, inner) in Fields(attribute))
                    {
                        if (attributeField is AttributeTensor or AttributeTensors)
                        {
                            Tensor(inner, locations);
                        }
                        else if (attributeField is AttributeGraph or AttributeGraphs)
                        {
                            Graph(inner, locations);
                        }
                    }
                }
            }
        }
    }

    private static void Tensor(ReadOnlyMemory<byte> tensor, List<string> locations)
    {
        foreach (var (field, entry) in Fields(tensor))
        {
            if (field != TensorExternalData)
            {
                continue;
            }
            string? key = null, value = null;
            foreach (var (entryField, text) in Fields(entry))
            {
                if (entryField == 1)
                {
                    key = Encoding.UTF8.GetString(text.Span);
                }
                else if (entryField == 2)
                {
                    value = Encoding.UTF8.GetString(text.Span);
                }
            }
            if (key == "location" && value is not null)
            {
                locations.Add(value);
            }
        }
    }

    /// <summary>The length-delimited fields of a message (the only kind that can hold the
    /// messages and strings above); other wire types are skipped.</summary>
    private static List<(int Field, ReadOnlyMemory<byte> Value)> Fields(ReadOnlyMemory<byte> message)
    {
        var fields = new List<(int, ReadOnlyMemory<byte>)>();
        var span = message.Span;
        var position = 0;
        while (position < span.Length)
        {
            var key = Varint(span, ref position);
            var field = (int)(key >> 3);
            switch (key & 7)
            {
                case 0:
                    Varint(span, ref position);
                    break;
                case 1:
                    position += 8;
                    break;
                case 5:
                    position += 4;
                    break;
                case 2:
                    var length = Varint(span, ref position);
                    if (length > (ulong)(span.Length - position))
                    {
                        throw new InvalidDataException("the ONNX file is truncated or not a protobuf");
                    }
                    fields.Add((field, message.Slice(position, (int)length)));
                    position += (int)length;
                    break;
                default:
                    throw new InvalidDataException($"the ONNX file has protobuf wire type {key & 7}, which ONNX does not use");
            }
            if (position > span.Length)
            {
                throw new InvalidDataException("the ONNX file is truncated");
            }
        }
        return fields;
    }

    private static ulong Varint(ReadOnlySpan<byte> span, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (position >= span.Length)
            {
                throw new InvalidDataException("the ONNX file is truncated");
            }
            var b = span[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
        throw new InvalidDataException("the ONNX file has a malformed varint");
    }
}
