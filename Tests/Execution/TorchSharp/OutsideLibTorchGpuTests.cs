using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Native;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Execution.TorchSharp;

/// <summary>
/// TorchScript on cuda:0 over the GPU host's own PyTorch (LIBTORCH_USE_PYTORCH=1), from an
/// application folder without the bundled libtorch: the outputs must match the samples stored at
/// generation time, and NVML must show the process's memory on GPU 0 and nowhere else. Skipped,
/// with the reason, where there is no GPU or no python3 whose torch sees one.
/// </summary>
[Trait("Category", "Gpu")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class OutsideLibTorchGpuTests : IClassFixture<OutsideLibTorchTests.Layout>
{
    private readonly OutsideLibTorchTests.Layout _layout;

    public OutsideLibTorchGpuTests(OutsideLibTorchTests.Layout layout) => _layout = layout;

    [PythonTorchGpuFact]
    public async Task Infer_MlpTorchOnGpu0OverThePythonLibTorch_MatchesTheSamplesOnThatGpuOnly()
    {
        using var repository = new TemporaryRepository().Add("mlp_torch", extraConfig: "instance_group [ { kind: KIND_GPU, gpus: [ 0 ] } ]");
        string[] arguments = ["--model-repository", repository.Path, "--http-port", "0", "--grpc-port", "0", "--allow-metrics=false"];
        var environment = new Dictionary<string, string> { ["LIBTORCH_USE_PYTORCH"] = "1" };
        // A GPU host runs the self-contained test publish and has no dotnet: start its apphost.
        await using var fabrik = File.Exists(Path.Combine(_layout.Folder, "libhostpolicy.so"))
            ? await FabrikProcess.StartExecutableAsync(Path.Combine(_layout.Folder, "fabrik"), environment, arguments)
            : await FabrikProcess.StartExecutableAsync("dotnet", environment, [Path.Combine(_layout.Folder, "fabrik.dll"), .. arguments]);
        using var client = new HttpClient { BaseAddress = fabrik.Address };

        foreach (var sample in Samples.Load("mlp_torch")["samples"]!.AsArray())
        {
            var response = await client.PostAsJsonAsync("/v2/models/mlp_torch/infer", new JsonObject { ["inputs"] = sample!["inputs"]!.DeepClone() });
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, body);
            // PyTorch keeps TF32 off for matrix products by default: the samples' own tolerance holds.
            TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(body)!["outputs"]!.AsArray(), (double?)sample["tolerance"] ?? 1e-5);
        }
        Assert.Contains(fabrik.Log, line => line.Contains("TorchScript: libtorch:", StringComparison.Ordinal) && line.Contains("(from LIBTORCH_USE_PYTORCH)", StringComparison.Ordinal));
        Assert.Equal([0], GpuInventory.Query().MemoryUsedBy(fabrik.Process.Id).Keys);
    }

    /// <summary>A GPU test that also needs a python3 whose torch sees a GPU.</summary>
    private sealed class PythonTorchGpuFactAttribute : FactAttribute
    {
        private static readonly Lazy<string?> PythonSkipReason = new(PythonTorchWithoutCuda);

        public override string? Skip
        {
            get => base.Skip ?? new GpuFactAttribute().Skip ?? PythonSkipReason.Value;
            set => base.Skip = value;
        }
    }

    private static string? PythonTorchWithoutCuda()
    {
        try
        {
            using var python = Process.Start(new ProcessStartInfo("python3", ["-c", "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)"])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            if (!python.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                python.Kill(entireProcessTree: true);
                return "GPU test skipped: python3 did not answer within 60 s";
            }
            return python.ExitCode == 0 ? null : "GPU test skipped: the python3 on the PATH has no torch that sees a GPU";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "GPU test skipped: no python3 on the PATH";
        }
    }
}
