using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Hosting;

/// <summary>Runs the built fabrik executable as a separate process, the way a user does.</summary>
public sealed partial class ExecutableTests
{
    [Fact]
    public async Task Fabrik_StartedOnSampleModels_LogsEachModelAndServes()
    {
        var fabrik = Path.Combine(AppContext.BaseDirectory, "fabrik.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { fabrik, "--model-repository", RepositoryLayout.Models, "--http-port", "0" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
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
                started.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, line) => log.Enqueue(line.Data ?? "");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await Task.WhenAll(listening.Task, started.Task).WaitAsync(TimeSpan.FromSeconds(60));
            using var client = new HttpClient { BaseAddress = await listening.Task };
            using var ready = await client.GetAsync("/v2/health/ready");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);

            foreach (var model in Samples.ModelNames)
            {
                Assert.Contains(log, line => line.Contains($"Loaded model '{model}' version 1", StringComparison.Ordinal));
            }
        }
        catch (TimeoutException)
        {
            Assert.Fail("fabrik did not start within 60 s. Its output:\n" + string.Join("\n", log));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Fabrik_UnknownFlag_ExitsWithUsageError()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "fabrik.dll"), "--bogus" },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("unknown option '--bogus'", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FabrikDevices_ListsGpusOrSaysWhyThereAreNone()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "fabrik.dll"), "devices" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(0, process.ExitCode);
        Assert.Contains("CPU:", output, StringComparison.Ordinal);
        var inventory = Fabrik.Native.GpuInventory.Query();
        if (inventory.Devices.Count == 0)
        {
            Assert.Contains("no GPU", output, StringComparison.Ordinal);
        }
        else
        {
            Assert.All(inventory.Devices, gpu => Assert.Contains($"GPU {gpu.Index}: {gpu.Name}", output, StringComparison.Ordinal));
        }
    }

    [GeneratedRegex(@"HTTP service listening on (\S+)")]
    private static partial Regex ListeningLine();
}
