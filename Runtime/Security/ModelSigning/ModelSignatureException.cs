namespace Fabrik.Security.ModelSigning;

/// <summary>Why a model version's signature does not hold, in the operator's terms (paths relative to the model).</summary>
internal sealed class ModelSignatureException(string message) : Exception(message);
