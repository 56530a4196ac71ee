using Fabrik.Configuration;
using Fabrik.Inference;

namespace Fabrik.Ensembles;

/// <summary>A served version of a model that an ensemble step runs, held by a lease that
/// <see cref="Release"/> ends. Implemented by the model layer's loaded version.</summary>
internal interface IComposingModel
{
    /// <summary>The configuration the version serves with.</summary>
    ModelConfig Config { get; }

    /// <summary>The version's number as text, as traces and statistics name it.</summary>
    string VersionText { get; }

    /// <summary>Runs <paramref name="request"/> through the version's own scheduler (so the
    /// dynamic batcher merges it with direct requests), or through its ensemble when it is one.
    /// The request stays the caller's; the response becomes the caller's.</summary>
    Task<InferenceResponse> InferAsync(InferenceRequest request);

    /// <summary>Ends the lease taken by <see cref="IComposingModels.Acquire"/>.</summary>
    void Release();
}
