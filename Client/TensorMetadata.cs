namespace Fabrik.Client;

/// <summary>One input or output a model declares.</summary>
/// <param name="Name">The tensor's name.</param>
/// <param name="Datatype">Its datatype's wire name ("FP32", "BYTES", ...), as the server sent it.</param>
/// <param name="Shape">Its shape; -1 marks a dimension of any size (the batch dimension among them).</param>
public sealed record TensorMetadata(string Name, string Datatype, IReadOnlyList<long> Shape)
{
    /// <summary>The datatype, or null when the server named one this client does not know.</summary>
    public TensorDataType? DataType => TensorDataTypes.TryParse(Datatype, out var type) ? type : null;
}
