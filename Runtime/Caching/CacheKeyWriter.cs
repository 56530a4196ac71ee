using System.Buffers.Binary;
using System.Text;
using Fabrik.Inference;

namespace Fabrik.Caching;

/// <summary>
/// Writes a request's cache key: the model version's identity, then every input (present or not;
/// name, datatype, shape and data), the requested outputs and their binary flags, and the request
/// parameters other than the scheduler's own (<c>priority</c>, <c>timeout</c>), sorted by name.
/// Every variable-length part carries its length, so two different requests never write the same
/// bytes. Run once to measure (no destination) and once to write, so the two cannot disagree.
/// </summary>
internal ref struct CacheKeyWriter(Span<byte> destination)
{
    private readonly Span<byte> _destination = destination;
    private readonly bool _measuring = destination.IsEmpty;

    /// <summary>Bytes written (or, measuring, that would be).</summary>
    public long Length { get; private set; }

    /// <summary>Parameters that only steer the scheduler, and so do not change the answer.</summary>
    public static bool IsSchedulingParameter(string name) => name is "priority" or "timeout";

    public void Write(ReadOnlySpan<byte> identity, byte[][] inputNames, InferenceRequest request, string[] parameterNames)
    {
        Bytes(identity);
        Int32(request.Inputs.Length);
        for (var i = 0; i < request.Inputs.Length; i++)
        {
            if (request.Inputs[i] is not { } input)
            {
                Int32(-1);
                continue;
            }
            Int32(i);
            Bytes(inputNames[i]);
            Int32((int)input.DataType);
            Int32(input.Shape.Length);
            foreach (var dim in input.Shape)
            {
                Int64(dim);
            }
            Bytes(input.Bytes);
        }
        var requested = request.RequestedOutputs;
        Int32(requested?.Length ?? -1);
        foreach (var index in requested ?? [])
        {
            Int32(index);
        }
        var binary = request.BinaryOutputs;
        Int32(binary?.Length ?? -1);
        foreach (var flag in binary ?? [])
        {
            Int32(flag ? 1 : 0);
        }
        Int32(parameterNames.Length);
        foreach (var name in parameterNames)
        {
            Text(name);
            Parameter(request.Parameters[name]);
        }
    }

    private void Parameter(object value)
    {
        switch (value)
        {
            case bool flag: Int32(1); Int64(flag ? 1 : 0); break;
            case long number: Int32(2); Int64(number); break;
            case ulong number: Int32(3); Int64((long)number); break;
            case double number: Int32(4); Int64(BitConverter.DoubleToInt64Bits(number)); break;
            default: Int32(5); Text(value.ToString() ?? ""); break;
        }
    }

    private void Text(string text)
    {
        var length = Encoding.UTF8.GetByteCount(text);
        Int32(length);
        if (!_measuring)
        {
            Encoding.UTF8.GetBytes(text, _destination[(int)Length..]);
        }
        Length += length;
    }

    private void Bytes(ReadOnlySpan<byte> bytes)
    {
        Int32(bytes.Length);
        if (!_measuring)
        {
            bytes.CopyTo(_destination[(int)Length..]);
        }
        Length += bytes.Length;
    }

    private void Int32(int value)
    {
        if (!_measuring)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_destination[(int)Length..], value);
        }
        Length += 4;
    }

    private void Int64(long value)
    {
        if (!_measuring)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_destination[(int)Length..], value);
        }
        Length += 8;
    }
}
