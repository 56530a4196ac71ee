namespace Fabrik.Client;

/// <summary>What the server says about a model (<c>GET /v2/models/{name}</c>, <c>ModelMetadata</c>).</summary>
/// <param name="Name">The model's name.</param>
/// <param name="Versions">The versions served.</param>
/// <param name="Platform">Its platform ("onnxruntime_onnx", "pytorch_libtorch", ...).</param>
/// <param name="Inputs">The inputs it takes.</param>
/// <param name="Outputs">The outputs it gives.</param>
public sealed record ModelMetadata(string Name, IReadOnlyList<string> Versions, string Platform, IReadOnlyList<TensorMetadata> Inputs, IReadOnlyList<TensorMetadata> Outputs);
