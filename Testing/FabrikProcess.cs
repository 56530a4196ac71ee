using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Fabrik.Testing;

/// <summary>
/// The built fabrik executable running as a separate process, the way a user runs it. Start-up
/// waits until it logs its HTTP address and "Fabrik is serving"; disposing kills it if it is still
/// running.
/// </summary>
public sealed partial class FabrikProcess : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _log;

    private FabrikProcess(Process process, Uri address, ConcurrentQueue<string> log)
    {
        Process = process;
        Address = address;
        _log = log;
    }

    public Process Process { get; }

    /// <summary>The HTTP base address it logged (with the real port).</summary>
    public Uri Address { get; }

    /// <summary>Everything it wrote to stdout and stderr so far.</summary>
    public IEnumerable<string> Log => _log;

    /// <summary>The metrics listener's base address it logged, or null when it logged none.</summary>
    public Uri? MetricsAddress =>
        _log.Select(line => MetricsLine().Match(line)).FirstOrDefault(match => match.Success) is { } found ? new Uri(found.Groups[1].Value) : null;

    /// <summary>Starts fabrik with <paramref name="arguments"/> (add "--http-port 0") and waits
    /// until it serves.</summary>
    public static Task<FabrikProcess> StartAsync(params string[] arguments) => StartAsync(new Dictionary<string, string>(), arguments);

    /// <summary>Starts <paramref name="executable"/> (a published fabrik, for instance) with
    /// <paramref name="arguments"/> and waits until it serves.</summary>
    public static Task<FabrikProcess> StartExecutableAsync(string executable, params string[] arguments) =>
        StartExecutableAsync(executable, environment: null, arguments);

    /// <summary>Starts fabrik like <see cref="StartAsync(string[])"/>, with <paramref name="environment"/>
    /// added to its environment (runtime settings such as the GC's).</summary>
    public static Task<FabrikProcess> StartAsync(IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        File.Exists(Path.Combine(AppContext.BaseDirectory, "libhostpolicy.so")) // a self-contained publish: no dotnet on the host
            ? StartExecutableAsync(Path.Combine(AppContext.BaseDirectory, "fabrik"), environment, arguments)
            : StartExecutableAsync("dotnet", environment, [Path.Combine(AppContext.BaseDirectory, "fabrik.dll"), .. arguments]);

    /// <summary>Starts <paramref name="executable"/> with <paramref name="environment"/> added to its environment.</summary>
    public static async Task<FabrikProcess> StartExecutableAsync(string executable, IReadOnlyDictionary<string, string>? environment, string[] arguments)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        var log = new ConcurrentQueue<string>();
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var serving = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is not { } text)
            {
                return;
            }
            log.Enqueue(text);
            if (ListeningLine().Match(text) is { Success: true } match)
            {
                listening.TrySetResult(new Uri(match.Groups[1].Value));
            }
            if (text.Contains("Fabrik is serving", StringComparison.Ordinal))
            {
                serving.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, line) => log.Enqueue(line.Data ?? "");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var started = Task.WhenAll(listening.Task, serving.Task);
        // Waiting for exit also waits for the end of its output, so the tail below is complete.
        var exited = process.WaitForExitAsync();
        try
        {
            if (await Task.WhenAny(started, exited).WaitAsync(TimeSpan.FromSeconds(60)) == exited && !started.IsCompleted)
            {
                using (process)
                {
                    throw new InvalidOperationException(
                        $"fabrik exited with code {process.ExitCode} before it served. The end of its output:\n{Tail(log)}");
                }
            }
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("fabrik did not start within 60 s. Its output:\n" + string.Join("\n", log));
        }
        return new FabrikProcess(process, await listening.Task, log);
    }

    /// <summary>Sends SIGTERM, as a container runtime or Slurm does on stop.</summary>
    public async Task TerminateAsync()
    {
        using var kill = Process.Start("kill", ["-TERM", Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync();
        }
        Process.Dispose();
    }

    /// <summary>The last lines a process wrote (a crash's reason is at the end).</summary>
    private static string Tail(IEnumerable<string> log) => string.Join("\n", log.TakeLast(40));

    [GeneratedRegex(@"HTTP service listening on (https?://[^\s""]+)")]
    private static partial Regex ListeningLine();

    [GeneratedRegex(@"Metrics service listening on (https?://[^\s""]+)")]
    private static partial Regex MetricsLine();
}
