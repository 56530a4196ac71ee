using System.Diagnostics;

namespace Fabrik.Testing;

/// <summary>Runs a fabrik sub-command (the built executable, as a user does) to its end.</summary>
public static class FabrikCommand
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    public static Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] arguments) =>
        RunAsync(AppContext.BaseDirectory, new Dictionary<string, string>(), arguments);

    /// <summary>Runs the fabrik in <paramref name="applicationFolder"/> with <paramref name="environment"/>
    /// added to its environment; one that has not ended within 90 s is killed and reported.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(
        string applicationFolder, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(applicationFolder, "fabrik.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"fabrik {string.Join(' ', arguments)} did not end within {Timeout}: {await error}");
        }
        return (process.ExitCode, await output, await error);
    }
}
