namespace Fabrik.Models;

/// <summary>
/// Poll mode (<c>--model-control-mode=poll</c>): every <c>--repository-poll-secs</c> it rescans the
/// repositories and hands what it found to <see cref="ModelManager.SynchronizeAsync"/>. A failed
/// scan is logged and the next one runs as usual, so polling never stops by itself.
/// </summary>
internal sealed partial class RepositoryPoller(ModelRepositoryOptions options, ModelManager models, TimeProvider time, ILogger<RepositoryPoller> logger)
    : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _polling = Task.CompletedTask;

    /// <summary>Starts polling in the background (only in poll mode).</summary>
    public void Start()
    {
        if (options.ControlMode == ModelControlMode.Poll)
        {
            _polling = Task.Run(() => PollAsync(_stopping.Token));
        }
    }

    /// <summary>One scan: every model folder in the repositories (the first repository that holds
    /// a name wins, as at start-up), then loads, reloads and unloads to match.</summary>
    public Task PollOnceAsync(CancellationToken cancellation)
    {
        var present = new List<ModelSource>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var repository in options.Repositories)
        {
            foreach (var source in ModelRepository.Discover(repository))
            {
                if (seen.Add(source.Name))
                {
                    present.Add(source);
                }
            }
        }
        return models.SynchronizeAsync(present, cancellation);
    }

    private async Task PollAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.PollInterval, time, stopping);
                await PollOnceAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.PollFailed(logger, e.Message);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _polling;
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 108, Level = LogLevel.Warning, Message = "Polling the model repository failed: {Reason}")]
        public static partial void PollFailed(ILogger logger, string reason);
    }
}
