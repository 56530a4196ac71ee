using System.Diagnostics;
using System.Globalization;
using Fabrik.Configuration;
using Microsoft.ML.OnnxRuntime;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// Cuts an ONNX Runtime run short once it has taken longer than the model's
/// <c>max_run_time_ms</c> parameter, or than the time its requests' timeouts leave it, through
/// <see cref="RunOptions.Terminate"/>: ONNX Runtime checks the flag between kernels (inside Loop
/// and If bodies too) and ends the run with an error, after which the session serves the next run
/// normally.
/// </summary>
/// <remarks>One per instance, reusing one timer, so a run allocates nothing for it. The timer's
/// callback and <see cref="Stop"/> agree under <see cref="_gate"/>: a callback that arrives after
/// its run ended changes nothing, and one that arrives before the running run's limit re-arms the
/// timer for the rest of it.</remarks>
internal sealed class RunDeadline : IDisposable
{
    /// <summary>The config.pbtxt parameter: <c>parameters { key: "max_run_time_ms" value: { string_value: "500" } }</c>.</summary>
    public const string Parameter = "max_run_time_ms";

    private readonly RunOptions _options;
    private Timer? _timer; // made on the first run that has a limit
    private readonly Lock _gate = new();
    private TimeSpan _armedFor;
    private long _startedAt;
    private bool _running;
    private bool _fired;

    public RunDeadline(ModelConfig config, RunOptions options)
    {
        _options = options;
        if (config.Parameters.TryGetValue(Parameter, out var text)
            && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds) && milliseconds > 0)
        {
            Limit = TimeSpan.FromMilliseconds(milliseconds);
        }
    }

    /// <summary>The longest a run may take; null when the model sets no limit.</summary>
    public TimeSpan? Limit { get; }

    /// <summary>Whether the last run that was cut short was cut by its requests' timeouts rather
    /// than by <see cref="Limit"/>.</summary>
    public bool CutByRequestTimeout { get; private set; }

    /// <summary>Arms the deadline for a run that starts now: <see cref="Limit"/>, or
    /// <paramref name="requestTimeLeft"/> when that is shorter (null: the requests set none).</summary>
    public void Start(TimeSpan? requestTimeLeft = null)
    {
        var byRequest = requestTimeLeft is { } left && (Limit is null || left < Limit.Value);
        var limit = byRequest ? requestTimeLeft : Limit;
        if (limit is null)
        {
            return;
        }
        var armedFor = limit.Value > TimeSpan.Zero ? limit.Value : TimeSpan.Zero;
        _timer ??= new Timer(static state => ((RunDeadline)state!).Expire(), this, Timeout.Infinite, Timeout.Infinite);
        lock (_gate)
        {
            _running = true;
            _fired = false;
            _armedFor = armedFor;
            CutByRequestTimeout = byRequest;
            _startedAt = Stopwatch.GetTimestamp();
        }
        _timer.Change(armedFor, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Disarms it once the run has ended and clears the flag for the next run; true when
    /// the deadline cut this run short (the first call after the run only).</summary>
    public bool Stop()
    {
        if (_timer is null)
        {
            return false;
        }
        _timer.Change(Timeout.Infinite, Timeout.Infinite);
        lock (_gate)
        {
            var fired = _fired;
            _running = false;
            _fired = false; // a later run without a limit must not read this one's cut
            if (fired)
            {
                _options.Terminate = false;
            }
            return fired;
        }
    }

    private void Expire()
    {
        lock (_gate)
        {
            if (!_running || _fired)
            {
                return;
            }
            var remaining = _armedFor - Stopwatch.GetElapsedTime(_startedAt);
            if (remaining > TimeSpan.Zero)
            {
                // Early: a timer may fire a little before its time, or this is a late callback
                // from the previous run. Wait out what is left of this run's limit.
                _timer!.Change(remaining + TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
                return;
            }
            _fired = true;
            _options.Terminate = true;
        }
    }

    public void Dispose() => _timer?.Dispose();
}
