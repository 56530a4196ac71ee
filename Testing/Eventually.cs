using System.Diagnostics;

namespace Fabrik.Testing;

/// <summary>
/// Waits for a condition instead of sleeping: polls it, a millisecond apart at first and at most
/// 50 ms apart later, until it holds or the timeout passes. A test waits on what it needs (a
/// counter reached, a run started, buffers returned) and then asserts; the timeout only ends a
/// broken test, so it is generous.
/// </summary>
public static class Eventually
{
    /// <summary>How long a wait lasts unless the caller says otherwise.</summary>
    public static TimeSpan DefaultTimeout { get; } = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan LongestPause = TimeSpan.FromMilliseconds(50);

    /// <summary>Whether <paramref name="condition"/> held before the timeout (the caller asserts).</summary>
    public static Task<bool> HoldsAsync(Func<bool> condition, TimeSpan? timeout = null, CancellationToken cancellation = default) =>
        HoldsAsync(() => Task.FromResult(condition()), timeout, cancellation);

    /// <inheritdoc cref="HoldsAsync(Func{bool}, TimeSpan?, CancellationToken)"/>
    public static async Task<bool> HoldsAsync(Func<Task<bool>> condition, TimeSpan? timeout = null, CancellationToken cancellation = default)
    {
        var limit = timeout ?? DefaultTimeout;
        var elapsed = Stopwatch.StartNew();
        var pause = TimeSpan.FromMilliseconds(1);
        while (true)
        {
            if (await condition())
            {
                return true;
            }
            if (elapsed.Elapsed >= limit)
            {
                return false;
            }
            await Task.Delay(pause, cancellation);
            pause = pause * 2 < LongestPause ? pause * 2 : LongestPause;
        }
    }

    /// <summary>Returns once <paramref name="condition"/> holds; throws a <see cref="TimeoutException"/>
    /// naming <paramref name="what"/> when it still does not after the timeout.</summary>
    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null, CancellationToken cancellation = default) =>
        UntilAsync(() => Task.FromResult(condition()), what, timeout, cancellation);

    /// <inheritdoc cref="UntilAsync(Func{bool}, string, TimeSpan?, CancellationToken)"/>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, CancellationToken cancellation = default)
    {
        var limit = timeout ?? DefaultTimeout;
        if (!await HoldsAsync(condition, limit, cancellation))
        {
            throw new TimeoutException($"waited {limit.TotalSeconds:F0} s for {what}");
        }
    }
}
