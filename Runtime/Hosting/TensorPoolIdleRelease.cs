using Fabrik.Tensors;

namespace Fabrik.Hosting;

/// <summary>
/// The tensor pool's idle release: once a minute, the buffers of size classes that no request
/// rented during the whole minute go back to the runtime (<see cref="TensorMemoryPool.ReleaseIdle"/>).
/// The pool itself keeps no timer; the host owns this one and stops it when the server stops.
/// </summary>
internal static class TensorPoolIdleRelease
{
    private static readonly TimeSpan Period = TimeSpan.FromMinutes(1);

    /// <summary>Starts the timer for <paramref name="pool"/>; it is disposed when <paramref name="app"/> begins to stop.</summary>
    public static void Start(WebApplication app, TensorMemoryPool pool)
    {
        var timer = new Timer(_ => pool.ReleaseIdle(), null, Period, Period);
        app.Lifetime.ApplicationStopping.Register(timer.Dispose);
    }
}
