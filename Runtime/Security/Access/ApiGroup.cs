namespace Fabrik.Security.Access;

/// <summary>
/// The groups of endpoints that access rules talk about: Triton's restricted-API categories,
/// and what each API-key scope grants (<see cref="AccessControl"/>).
/// </summary>
internal enum ApiGroup
{
    /// <summary>Server live/ready and model ready: open unless --auth-health=true.</summary>
    Health,

    /// <summary>Server and model metadata (scope <c>metadata</c>).</summary>
    Metadata,

    /// <summary>Model configuration (scope <c>metadata</c>; Triton's <c>model-config</c>).</summary>
    ModelConfig,

    /// <summary>Inference (scope <c>infer:&lt;model glob&gt;</c>).</summary>
    Inference,

    /// <summary>Statistics (scope <c>stats</c>).</summary>
    Statistics,

    /// <summary>Repository index, load and unload (scope <c>repository</c>).</summary>
    Repository,

    /// <summary>The metrics endpoint (scope <c>metrics</c>).</summary>
    Metrics,

    /// <summary>The shared-memory extensions' register, status and unregister (scope <c>shared-memory</c>).</summary>
    SharedMemory,

    /// <summary>The tenants' usage (<c>GET /v2/tenants/usage</c>): any known caller, who sees its
    /// own tenant's usage, or every tenant's with <c>admin</c>.</summary>
    Usage,

    /// <summary>Triton's trace and logging categories.</summary>
    Other,
}
