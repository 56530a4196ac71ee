using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Execution.TorchSharp;

/// <summary>
/// TorchScript over a libtorch that LIBTORCH or LIBTORCH_USE_PYTORCH names, with the restored
/// CPU libtorch package standing in for a host's PyTorch. The server runs as a process from an
/// application folder without the bundled libtorch (what -p:BundleLibTorch=false publishes),
/// built here from the test's own output.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class OutsideLibTorchTests : IClassFixture<OutsideLibTorchTests.Layout>
{
    private readonly Layout _layout;

    public OutsideLibTorchTests(Layout layout) => _layout = layout;

    [Fact]
    public async Task Devices_LibTorchAtTheRestoredPackage_ReportsItsFolderAndVersion()
    {
        var (exitCode, output, error) = await FabrikCommand.RunAsync(_layout.Folder, new Dictionary<string, string> { ["LIBTORCH"] = Layout.PackageLibTorch }, "devices");

        Assert.True(exitCode == 0, error);
        Assert.Contains($"libtorch: {Layout.PackageLibTorch} (from LIBTORCH), version 2.10", output, StringComparison.Ordinal);
        Assert.Contains("CUDA libraries: no", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_MlpTorchOverTheOutsideLibTorch_AnswersTheStoredSamplesAndMapsOnlyThatLibTorch()
    {
        using var repository = new TemporaryRepository().Add("mlp_torch");
        await using var fabrik = await FabrikProcess.StartExecutableAsync("dotnet",
            new Dictionary<string, string> { ["LIBTORCH"] = Layout.PackageLibTorch },
            [Path.Combine(_layout.Folder, "fabrik.dll"), "--model-repository", repository.Path, "--http-port", "0", "--grpc-port", "0", "--allow-metrics=false"]);
        using var client = new HttpClient { BaseAddress = fabrik.Address };

        var sample = Samples.Sample("mlp_torch", 0);
        var response = await client.PostAsJsonAsync("/v2/models/mlp_torch/infer", new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() });
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.IsSuccessStatusCode, body);
        TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(body)!["outputs"]!.AsArray(), 1e-5);
        var mapped = File.ReadAllLines($"/proc/{fabrik.Process.Id}/maps")
            .Where(line => line.EndsWith("/libtorch_cpu.so", StringComparison.Ordinal))
            .Select(line => line[line.IndexOf('/', StringComparison.Ordinal)..])
            .Distinct()
            .ToArray();
        Assert.Equal([Path.Combine(Layout.PackageLibTorch, "libtorch_cpu.so")], mapped);
        Assert.Contains(fabrik.Log, line => line.Contains($"TorchScript: libtorch: {Layout.PackageLibTorch} (from LIBTORCH)", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("missing", "the folder does not exist")]
    [InlineData("empty", "not a libtorch folder:")]
    [InlineData("unrelated", "not a libtorch folder:")]
    [InlineData("corrupt", "could not be loaded")]
    public async Task Start_LibTorchThatIsNoLibTorch_StopsNamingTheSettingAndFile(string kind, string reason)
    {
        using var folder = new TemporaryFolder();
        var libtorch = Path.Combine(folder.Path, "libtorch");
        if (kind != "missing")
        {
            Directory.CreateDirectory(libtorch);
        }
        if (kind == "unrelated")
        {
            File.Copy("/lib/x86_64-linux-gnu/libz.so.1", Path.Combine(libtorch, "libz.so.1"));
            File.Copy("/lib/x86_64-linux-gnu/libm.so.6", Path.Combine(libtorch, "libm.so.6"));
        }
        if (kind == "corrupt")
        {
            foreach (var library in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
            {
                File.WriteAllBytes(Path.Combine(libtorch, library), RandomBytes(4096));
            }
        }

        var (exitCode, output, error) = await FabrikCommand.RunAsync(_layout.Folder, new Dictionary<string, string> { ["LIBTORCH"] = libtorch },
            "--model-repository", RepositoryLayout.Models, "--http-port", "0", "--grpc-port", "0", "--allow-metrics=false");

        Assert.Equal(1, exitCode);
        Assert.Contains($"fabrik: failed to start: LIBTORCH={libtorch}", error, StringComparison.Ordinal);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.DoesNotContain("Fabrik is serving", output, StringComparison.Ordinal);
        AssertNoNativeCrash(output + error);
    }

    [Fact]
    public async Task Start_OutsideLibTorchBesideTheBundledOne_IsRefusedInWordsNotAborted()
    {
        var (exitCode, _, error) = await FabrikCommand.RunAsync(AppContext.BaseDirectory, new Dictionary<string, string> { ["LIBTORCH"] = Layout.PackageLibTorch }, "devices");

        Assert.Equal(1, exitCode);
        Assert.Contains("this build carries its own libtorch", error, StringComparison.Ordinal);
        Assert.Contains("-p:BundleLibTorch=false", error, StringComparison.Ordinal);
        AssertNoNativeCrash(error);
    }

    [Fact]
    public async Task Devices_UsePyTorch_TakesTheFolderPython3Names()
    {
        using var bin = StandInPython($"echo '{Layout.PackageLibTorch}'");

        var (exitCode, output, error) = await FabrikCommand.RunAsync(_layout.Folder, new Dictionary<string, string> { ["LIBTORCH_USE_PYTORCH"] = "1", ["PATH"] = bin.Path + ":" + Environment.GetEnvironmentVariable("PATH") }, "devices");

        Assert.True(exitCode == 0, error);
        Assert.Contains($"libtorch: {Layout.PackageLibTorch} (from LIBTORCH_USE_PYTORCH), version 2.10", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("echo \"ModuleNotFoundError: No module named 'torch'\" >&2; exit 1", "python3 could not import torch (exit code 1: ModuleNotFoundError: No module named 'torch')")]
    [InlineData("exec sleep 600", "python3 did not say where torch is within 15 s")]
    public async Task Devices_UsePyTorchWhosePythonFailsOrHangs_StopsWithTheReason(string script, string reason)
    {
        using var bin = StandInPython(script);

        var (exitCode, _, error) = await FabrikCommand.RunAsync(_layout.Folder, new Dictionary<string, string> { ["LIBTORCH_USE_PYTORCH"] = "1", ["PATH"] = bin.Path + ":" + Environment.GetEnvironmentVariable("PATH") }, "devices");

        Assert.Equal(1, exitCode);
        Assert.Contains("fabrik: failed to start: LIBTORCH_USE_PYTORCH=1: " + reason, error, StringComparison.Ordinal);
        AssertNoNativeCrash(error);
    }

    private static void AssertNoNativeCrash(string text)
    {
        Assert.DoesNotContain("terminate called", text, StringComparison.Ordinal);
        Assert.DoesNotContain("frame #", text, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
    }

    private static byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        new Random(7).NextBytes(bytes);
        return bytes;
    }

    private static TemporaryFolder StandInPython(string script)
    {
        var bin = new TemporaryFolder();
        var python = Path.Combine(bin.Path, "python3");
        File.WriteAllText(python, "#!/bin/sh\n" + script + "\n");
        File.SetUnixFileMode(python, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return bin;
    }

    /// <summary>A temporary folder, removed at the end.</summary>
    public sealed class TemporaryFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("fabrik-libtorch-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }

    /// <summary>The server's files without TorchSharp's bundled libtorch: managed assemblies and
    /// configuration copied (the runtime resolves links, and TorchSharp probes beside its real
    /// location), native libraries linked.</summary>
    public sealed class Layout : IDisposable
    {
        /// <summary>The restored libtorch-cpu-linux-x64 package's native folder.</summary>
        public static string PackageLibTorch { get; } = FindPackageLibTorch();

        private readonly TemporaryFolder _folder = new();

        public Layout()
        {
            var bundled = Directory.GetFiles(PackageLibTorch).Select(System.IO.Path.GetFileName).ToHashSet(StringComparer.Ordinal);
            foreach (var file in Directory.GetFiles(AppContext.BaseDirectory))
            {
                var name = System.IO.Path.GetFileName(file);
                var target = System.IO.Path.Combine(Folder, name);
                if (bundled.Contains(name))
                {
                    continue;
                }
                if (name.EndsWith(".dll", StringComparison.Ordinal) || name.EndsWith(".json", StringComparison.Ordinal) || name is "libLibTorchSharp.so" or "fabrik")
                {
                    File.Copy(file, target);
                    File.SetUnixFileMode(target, File.GetUnixFileMode(file));
                }
                else
                {
                    File.CreateSymbolicLink(target, file);
                }
            }
        }

        public string Folder => _folder.Path;

        public void Dispose() => _folder.Dispose();

        private static string FindPackageLibTorch()
        {
            var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                ?? System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            var package = System.IO.Path.Combine(packages, "libtorch-cpu-linux-x64");
            return Directory.GetDirectories(package)
                .Select(version => System.IO.Path.Combine(version, "runtimes", "linux-x64", "native"))
                .Single(Directory.Exists);
        }
    }
}
