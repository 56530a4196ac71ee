using Google.Protobuf;

namespace Fabrik.Testing;

/// <summary>
/// Small ONNX models written field by field from onnx.proto (no ONNX tooling needed), for cases
/// the committed models do not cover: a graph with no inputs, one with external data, and a run
/// that never ends.
/// </summary>
public static class OnnxModels
{
    private const int Float = 1;
    private const int Bool = 9;
    private const int Int64 = 7;

    /// <summary>One Constant node producing FP32 [values.Length] as OUTPUT0; no inputs.</summary>
    public static byte[] Constant(float[] values)
    {
        var attribute = Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteString("value");
            w.WriteTag(5, WireFormat.WireType.LengthDelimited); w.WriteBytes(FloatTensor(null, values));
            w.WriteTag(20, WireFormat.WireType.Varint); w.WriteInt32(4); // AttributeType TENSOR
        });
        var node = Node("Constant", [], ["OUTPUT0"], attribute);
        return Model(Graph("constant", [node], [], [], [ValueInfo("OUTPUT0", Float, [values.Length])]));
    }

    /// <summary>An Identity of an FP32 [count] initializer whose data lives in the external file
    /// <paramref name="location"/> beside the model, as OUTPUT0; no inputs. The output is the
    /// file's contents, so it shows which file ONNX Runtime read.</summary>
    public static byte[] ExternalWeights(string location, int count)
    {
        var entry = Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteString("location");
            w.WriteTag(2, WireFormat.WireType.LengthDelimited); w.WriteString(location);
        });
        var weights = Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.Varint); w.WriteInt64(count);
            w.WriteTag(2, WireFormat.WireType.Varint); w.WriteInt32(Float);
            w.WriteTag(8, WireFormat.WireType.LengthDelimited); w.WriteString("w");
            w.WriteTag(13, WireFormat.WireType.LengthDelimited); w.WriteBytes(entry);
            w.WriteTag(14, WireFormat.WireType.Varint); w.WriteInt32(1); // DataLocation EXTERNAL
        });
        var node = Node("Identity", ["w"], ["OUTPUT0"]);
        return Model(Graph("external", [node], [weights], [], [ValueInfo("OUTPUT0", Float, [count])]));
    }

    /// <summary>A Loop of 10^15 iterations whose body passes its FP32 [1] value through, as
    /// OUTPUT0; no inputs. A run does not end in any reasonable time, which is the point.</summary>
    public static byte[] EndlessLoop()
    {
        var body = Graph(
            "body",
            [Node("Identity", ["cond_in"], ["cond_out"]), Node("Identity", ["v_in"], ["v_out"])],
            [],
            [ValueInfo("iteration", Int64, []), ValueInfo("cond_in", Bool, []), ValueInfo("v_in", Float, [1])],
            [ValueInfo("cond_out", Bool, []), ValueInfo("v_out", Float, [1])]);
        var attribute = Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteString("body");
            w.WriteTag(6, WireFormat.WireType.LengthDelimited); w.WriteBytes(body);
            w.WriteTag(20, WireFormat.WireType.Varint); w.WriteInt32(5); // AttributeType GRAPH
        });
        var tripCount = Message(w =>
        {
            w.WriteTag(2, WireFormat.WireType.Varint); w.WriteInt32(Int64);
            w.WriteTag(7, WireFormat.WireType.LengthDelimited); w.WriteLength(CodedOutputStream.ComputeInt64Size(1_000_000_000_000_000));
            w.WriteInt64(1_000_000_000_000_000);
            w.WriteTag(8, WireFormat.WireType.LengthDelimited); w.WriteString("M");
        });
        var loop = Node("Loop", ["M", "", "v0"], ["OUTPUT0"], attribute);
        return Model(Graph("endless", [loop], [tripCount, FloatTensor("v0", [1f])], [], [ValueInfo("OUTPUT0", Float, [1])]));
    }

    private static ByteString FloatTensor(string? name, float[] values) => Message(w =>
    {
        w.WriteTag(1, WireFormat.WireType.Varint); w.WriteInt64(values.Length);
        w.WriteTag(2, WireFormat.WireType.Varint); w.WriteInt32(Float);
        w.WriteTag(4, WireFormat.WireType.LengthDelimited); w.WriteLength(values.Length * 4);
        foreach (var value in values)
        {
            w.WriteFloat(value);
        }
        if (name is not null)
        {
            w.WriteTag(8, WireFormat.WireType.LengthDelimited); w.WriteString(name);
        }
    });

    private static ByteString Node(string op, string[] inputs, string[] outputs, ByteString? attribute = null) => Message(w =>
    {
        foreach (var input in inputs)
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteString(input);
        }
        foreach (var output in outputs)
        {
            w.WriteTag(2, WireFormat.WireType.LengthDelimited); w.WriteString(output);
        }
        w.WriteTag(4, WireFormat.WireType.LengthDelimited); w.WriteString(op);
        if (attribute is not null)
        {
            w.WriteTag(5, WireFormat.WireType.LengthDelimited); w.WriteBytes(attribute);
        }
    });

    private static ByteString ValueInfo(string name, int elementType, long[] dims)
    {
        var shape = Message(w =>
        {
            foreach (var dim in dims)
            {
                var dimension = Message(d => { d.WriteTag(1, WireFormat.WireType.Varint); d.WriteInt64(dim); });
                w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteBytes(dimension);
            }
        });
        var tensorType = Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.Varint); w.WriteInt32(elementType);
            w.WriteTag(2, WireFormat.WireType.LengthDelimited); w.WriteBytes(shape);
        });
        var type = Message(w => { w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteBytes(tensorType); });
        return Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteString(name);
            w.WriteTag(2, WireFormat.WireType.LengthDelimited); w.WriteBytes(type);
        });
    }

    private static ByteString Graph(string name, ByteString[] nodes, ByteString[] initializers, ByteString[] inputs, ByteString[] outputs) => Message(w =>
    {
        foreach (var node in nodes)
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited); w.WriteBytes(node);
        }
        w.WriteTag(2, WireFormat.WireType.LengthDelimited); w.WriteString(name);
        foreach (var initializer in initializers)
        {
            w.WriteTag(5, WireFormat.WireType.LengthDelimited); w.WriteBytes(initializer);
        }
        foreach (var input in inputs)
        {
            w.WriteTag(11, WireFormat.WireType.LengthDelimited); w.WriteBytes(input);
        }
        foreach (var output in outputs)
        {
            w.WriteTag(12, WireFormat.WireType.LengthDelimited); w.WriteBytes(output);
        }
    });

    private static byte[] Model(ByteString graph)
    {
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
