namespace Fabrik.Tensors;

/// <summary>Why <see cref="TensorSize.TryCompute"/> refused a shape.</summary>
internal enum TensorSizeError : byte
{
    /// <summary>The shape is valid and its sizes were computed.</summary>
    None,

    /// <summary>A dimension is below zero.</summary>
    NegativeDimension,

    /// <summary>The element count does not fit in 64 bits.</summary>
    Overflow,

    /// <summary>The data would exceed <see cref="TensorMemoryPool.MaximumLength"/>.</summary>
    TooLarge,
}
