using System.Diagnostics;
using System.Net;
using Xunit;

namespace Fabrik.Tests.Hosting;

/// <summary>Runs the built fabrik executable as a separate process, the way a user does.</summary>
public sealed class ExecutableTests
{
    [Fact]
    public async Task Fabrik_StartedOnSampleModels_LogsEachModelAndServes()
    {
        await using var fabrik = await FabrikProcess.StartAsync("--model-repository", RepositoryLayout.Models, "--http-port", "0", "--metrics-port", "0", "--grpc-port", "0");
        using var client = new HttpClient { BaseAddress = fabrik.Address };
        using var ready = await client.GetAsync("/v2/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);

        foreach (var model in Samples.AllModelNames)
        {
            Assert.Contains(fabrik.Log, line => line.Contains($"Loaded model '{model}' version 1", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task StartAsync_ServerExitsDuringStartUp_FailsWithItsExitCodeAndOutput_NotATimeout()
    {
        // A model that cannot load stops the server at start (--exit-on-error): the helper must
        // say so with the exit code and the reason, instead of waiting out its 60 s start-up limit.
        using var repository = new TemporaryRepository().Add("simple", "broken");
        File.WriteAllText(Path.Combine(repository.Path, "broken", "config.pbtxt"), "name: \"broken\"\nplatform: \"no_such_platform\"\n");

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false"));

        Assert.Contains("exited with code 1", failure.Message, StringComparison.Ordinal);
        Assert.Contains("broken", failure.Message, StringComparison.Ordinal);
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
}
