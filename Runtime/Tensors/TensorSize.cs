namespace Fabrik.Tensors;

/// <summary>
/// The one place where a tensor's element count and byte size are computed from its shape. Every
/// decoder calls it before it rents memory, so no multiplication that wraps around can make a
/// short body pass a size check, and no size beyond what the pool serves reaches a backend.
/// </summary>
internal static class TensorSize
{
    /// <summary>Computes the element count and byte size of a tensor of <paramref name="type"/>
    /// and <paramref name="shape"/>, with every product checked. For BYTES, whose elements vary in
    /// length, <paramref name="byteLength"/> is the least the data can take: a 4-byte length prefix
    /// per element.</summary>
    /// <returns><see cref="TensorSizeError.None"/>, or why the shape is refused; then
    /// <paramref name="elementCount"/> and <paramref name="byteLength"/> are 0, except that
    /// <see cref="TensorSizeError.TooLarge"/> still reports the element count.</returns>
    public static TensorSizeError TryCompute(ReadOnlySpan<long> shape, DataType type, out long elementCount, out long byteLength)
    {
        elementCount = 0;
        byteLength = 0;
        var hasZero = false;
        foreach (var dim in shape)
        {
            if (dim < 0)
            {
                return TensorSizeError.NegativeDimension;
            }
            hasZero |= dim == 0;
        }
        if (hasZero)
        {
            // An empty tensor: the other dimensions, however large, multiply to nothing.
            return TensorSizeError.None;
        }
        long count = 1;
        foreach (var dim in shape)
        {
            if (count > long.MaxValue / dim)
            {
                return TensorSizeError.Overflow;
            }
            count *= dim;
        }
        elementCount = count;
        long perElement = type == DataType.Bytes ? 4 : type.ElementSize();
        if (perElement == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(type), type, "a tensor needs a valid datatype");
        }
        if (count > TensorMemoryPool.MaximumLength / perElement)
        {
            return TensorSizeError.TooLarge;
        }
        byteLength = count * perElement;
        return TensorSizeError.None;
    }
}
