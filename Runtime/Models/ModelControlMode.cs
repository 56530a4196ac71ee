namespace Fabrik.Models;

/// <summary>Triton's model control modes (--model-control-mode).</summary>
internal enum ModelControlMode
{
    /// <summary>Load every model at start; the load and unload APIs are refused.</summary>
    None,

    /// <summary>Load every model at start and follow changes on disk.</summary>
    Poll,

    /// <summary>Load the --load-model models at start; the load and unload APIs manage the rest.</summary>
    Explicit,
}
