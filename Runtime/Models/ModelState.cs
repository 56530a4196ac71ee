namespace Fabrik.Models;

/// <summary>Lifecycle states, as Triton names them in its repository index.</summary>
internal enum ModelState
{
    Loading,
    Ready,
    Unloading,
    Unavailable,
}
