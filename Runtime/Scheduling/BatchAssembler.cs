using System.Buffers.Binary;
using Fabrik.Errors;
using Fabrik.Tensors;

namespace Fabrik.Scheduling;

/// <summary>
/// Joins the inputs of several requests into one batch along the batch dimension, and splits the
/// batch's outputs back into per-request tensors. Tensors are row-major, so a request's rows are
/// one contiguous run of bytes (for BYTES, one run of length-prefixed elements).
/// </summary>
internal static class BatchAssembler
{
    /// <summary>Concatenates each input across <paramref name="batch"/>. The caller owns the
    /// returned buffers; the requests keep theirs.</summary>
    public static TensorBuffer?[] Gather(IReadOnlyList<PendingRequest> batch, int totalRows, TensorMemoryPool pool)
    {
        var first = batch[0].Request;
        var gathered = new TensorBuffer?[first.Inputs.Length];
        try
        {
            for (var i = 0; i < gathered.Length; i++)
            {
                if (first.Inputs[i] is not { } template)
                {
                    continue;
                }
                long bytes = 0, elements = 0;
                foreach (var pending in batch)
                {
                    var input = pending.Request.Inputs[i]!;
                    bytes += input.ByteLength;
                    elements += input.ElementCount;
                }
                var shape = (long[])template.Shape.Clone();
                shape[0] = totalRows;
                var buffer = new TensorBuffer(pool, template.DataType, shape, elements, bytes);
                gathered[i] = buffer;
                var destination = buffer.Bytes;
                foreach (var pending in batch)
                {
                    var source = pending.Request.Inputs[i]!.Bytes;
                    source.CopyTo(destination);
                    destination = destination[source.Length..];
                }
            }
            return gathered;
        }
        catch
        {
            Dispose(gathered);
            throw;
        }
    }

    /// <summary>Splits every output of a batch into one set per request, in batch order. The
    /// caller still owns <paramref name="outputs"/>; it owns the returned buffers too.</summary>
    public static TensorBuffer[][] Scatter(TensorBuffer[] outputs, IReadOnlyList<PendingRequest> batch, int totalRows, TensorMemoryPool pool, string modelName)
    {
        var split = new TensorBuffer[batch.Count][];
        for (var r = 0; r < split.Length; r++)
        {
            split[r] = new TensorBuffer[outputs.Length];
        }
        try
        {
            for (var o = 0; o < outputs.Length; o++)
            {
                var output = outputs[o];
                if (output.Shape.Length == 0 || output.Shape[0] != totalRows)
                {
                    throw new InferenceException(ErrorKind.Internal,
                        $"model '{modelName}' returned output {o} with shape [{string.Join(",", output.Shape)}], which does not start with the batch's {totalRows} rows");
                }
                var elementsPerRow = output.ElementCount / totalRows;
                ReadOnlySpan<byte> remaining = output.Bytes;
                for (var r = 0; r < batch.Count; r++)
                {
                    var rows = batch[r].Rows;
                    var shape = (long[])output.Shape.Clone();
                    shape[0] = rows;
                    var elements = elementsPerRow * rows;
                    var length = output.DataType == DataType.Bytes
                        ? BytesLength(remaining, elements)
                        : (int)(elements * output.DataType.ElementSize());
                    var part = new TensorBuffer(pool, output.DataType, shape, elements, length);
                    split[r][o] = part;
                    remaining[..length].CopyTo(part.Bytes);
                    remaining = remaining[length..];
                }
            }
            return split;
        }
        catch
        {
            foreach (var set in split)
            {
                Dispose(set);
            }
            throw;
        }
    }

    /// <summary>Bytes taken by the first <paramref name="elements"/> length-prefixed elements.</summary>
    private static int BytesLength(ReadOnlySpan<byte> data, long elements)
    {
        var offset = 0;
        for (long e = 0; e < elements; e++)
        {
            offset += 4 + (int)BinaryPrimitives.ReadUInt32LittleEndian(data[offset..]);
        }
        return offset;
    }

    public static void Dispose(IEnumerable<TensorBuffer?> buffers)
    {
        foreach (var buffer in buffers)
        {
            buffer?.Dispose();
        }
    }
}
