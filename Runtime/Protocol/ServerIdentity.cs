namespace Fabrik.Protocol;

/// <summary>What the server says about itself, and whether it is live.</summary>
internal sealed class ServerIdentity
{
    public string Name { get; init; } = "fabrik";

    public string Version { get; init; } = typeof(ServerIdentity).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>Protocol extensions actually implemented (reported by GET /v2).</summary>
    public IReadOnlyList<string> Extensions { get; init; } = ["binary_tensor_data", "model_configuration", "statistics", "model_repository", "trace"];

    /// <summary>Liveness: the process answers and <see cref="Liveness"/> (the scheduler watchdog)
    /// sees no wedged run. Readiness is the model manager's, and turns false first on shutdown.</summary>
    public bool IsLive => Liveness();

    /// <summary>The watchdog's verdict; always live unless the host wires one in.</summary>
    public Func<bool> Liveness { get; init; } = static () => true;
}
