using System.Buffers.Binary;
using System.Text;
using Fabrik.Configuration;
using Fabrik.Tensors;

namespace Fabrik.Scheduling.Sequences;

/// <summary>
/// The tensors the sequence batcher gives a model for one batch row: control values, the initial
/// value of an implicit state, and the zero inputs of an empty slot. Each is one row (shape
/// [1, ...] when the model batches) in a pooled buffer the caller owns.
/// </summary>
internal sealed class SlotTensors(TensorMemoryPool pool, bool batched)
{
    /// <summary>A START, END or READY control row: the configured false or true value.</summary>
    public TensorBuffer Flag(SequenceControlInput control, bool value)
    {
        var number = value ? control.TrueValue : control.FalseValue;
        var buffer = Rent(control.DataType, [1], 1, control.DataType.ElementSize());
        var bytes = buffer.Bytes;
        switch (control.DataType)
        {
            case DataType.Int32: BinaryPrimitives.WriteInt32LittleEndian(bytes, (int)number); break;
            case DataType.Fp32: BinaryPrimitives.WriteSingleLittleEndian(bytes, (float)number); break;
            default: bytes[0] = number != 0 ? (byte)1 : (byte)0; break; // BOOL
        }
        return buffer;
    }

    /// <summary>A CORRID control row. <paramref name="id"/> is null for an empty slot (0, or the
    /// empty string). A string id for a numeric CORRID was refused at admission.</summary>
    public TensorBuffer CorrelationId(SequenceControlInput control, SequenceId? id)
    {
        if (control.DataType == DataType.Bytes)
        {
            var text = id?.ToString() ?? "";
            var length = Encoding.UTF8.GetByteCount(text);
            var buffer = Rent(DataType.Bytes, [1], 1, 4 + length);
            BinaryPrimitives.WriteInt32LittleEndian(buffer.Bytes, length);
            Encoding.UTF8.GetBytes(text, buffer.Bytes[4..]);
            return buffer;
        }
        var number = id?.Number ?? 0;
        var numeric = Rent(control.DataType, [1], 1, control.DataType.ElementSize());
        var bytes = numeric.Bytes;
        switch (control.DataType)
        {
            case DataType.UInt64: BinaryPrimitives.WriteUInt64LittleEndian(bytes, number); break;
            case DataType.Int64: BinaryPrimitives.WriteInt64LittleEndian(bytes, unchecked((long)number)); break;
            case DataType.UInt32: BinaryPrimitives.WriteUInt32LittleEndian(bytes, unchecked((uint)number)); break;
            default: BinaryPrimitives.WriteInt32LittleEndian(bytes, unchecked((int)number)); break;
        }
        return numeric;
    }

    /// <summary>A state's value at the start of a sequence: its initial_state file's bytes, or zeros.</summary>
    public TensorBuffer InitialState(SequenceStateConfig state)
    {
        var elements = state.Dims.Aggregate(1L, (product, dim) => checked(product * dim));
        var buffer = Rent(state.DataType, [.. state.Dims], elements, checked(elements * state.DataType.ElementSize()));
        if (state.InitialState is { Data.Length: > 0 } initial)
        {
            initial.Data.AsSpan().CopyTo(buffer.Bytes);
        }
        return buffer;
    }

    /// <summary>An empty slot's value for an input shaped like <paramref name="template"/> (one
    /// row): zeros, or empty strings for BYTES.</summary>
    public TensorBuffer Zero(TensorBuffer template)
    {
        var bytes = template.DataType == DataType.Bytes ? checked(template.ElementCount * 4) : template.ByteLength;
        var buffer = new TensorBuffer(pool, template.DataType, (long[])template.Shape.Clone(), template.ElementCount, bytes);
        buffer.Bytes.Clear();
        return buffer;
    }

    /// <summary>A zeroed buffer of one row of <paramref name="dims"/> (the batch dimension added
    /// when the model batches).</summary>
    private TensorBuffer Rent(DataType type, long[] dims, long elements, long bytes)
    {
        long[] shape = batched ? [1, .. dims] : dims;
        var buffer = new TensorBuffer(pool, type, shape, elements, bytes);
        buffer.Bytes.Clear();
        return buffer;
    }
}
