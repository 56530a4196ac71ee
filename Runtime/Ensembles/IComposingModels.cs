using Fabrik.Configuration;

namespace Fabrik.Ensembles;

/// <summary>The served models an ensemble's steps name, as the model layer resolves them.
/// Thread-safe.</summary>
internal interface IComposingModels
{
    /// <summary>Takes a lease on the version a step names (<paramref name="version"/> null for the
    /// newest), which holds the version (and so its unload) until released.</summary>
    /// <exception cref="Errors.InferenceException">NotFound or Unavailable: the model or version is
    /// not served now.</exception>
    IComposingModel Acquire(string name, string? version);

    /// <summary>The configuration of the version a step names, without a lease (for the checks
    /// made when the ensemble loads).</summary>
    /// <exception cref="Errors.InferenceException">The model or version is not served now.</exception>
    ModelConfig Describe(string name, string? version);
}
