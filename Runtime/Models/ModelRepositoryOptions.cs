namespace Fabrik.Models;

/// <summary>How the model manager reads and follows the repositories.</summary>
internal sealed record ModelRepositoryOptions(IReadOnlyList<string> Repositories)
{
    public ModelControlMode ControlMode { get; init; } = ModelControlMode.None;

    /// <summary>Explicit mode: the models to load at start ("*" for all).</summary>
    public IReadOnlyList<string> StartupModels { get; init; } = [];

    public bool AutoCompleteConfig { get; init; } = true;

    public bool StrictReadiness { get; init; } = true;

    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How many models the start-up load builds at once.</summary>
    public int LoadThreadCount { get; init; } = 4;
    /// <summary>Where loaded versions record their latency histograms; null when metrics are off.</summary>
    public Observability.Metrics.InferenceMetrics? Metrics { get; init; }
    /// <summary>The server's response cache (--cache-config local,size=N); null when it has none.</summary>
    public Caching.ResponseCache? ResponseCache { get; init; }
    /// <summary>--model-trust-key: the keys a version's manifest must be signed with (none: unchecked).</summary>
    public Security.ModelSigning.ModelTrust Trust { get; init; } = Security.ModelSigning.ModelTrust.None;
}
