using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Xunit;

namespace Fabrik.Tests.Deployment;

/// <summary>
/// deploy/slurm/fabrik-bench.sbatch run as Slurm would run it, with stand-ins for srun, scontrol
/// and apptainer on PATH (Tests/Deployment/SlurmStubs) that run each step on this machine: the
/// real server starts, the real load generator measures it, and the script stops it.
/// </summary>
public sealed class SlurmScriptTests
{
    [Fact]
    public async Task BenchmarkJob_StartsWaitsMeasuresRecordsAndStops()
    {
        var work = Directory.CreateTempSubdirectory("fabrik-slurm-");
        try
        {
            using var repository = new TemporaryRepository().Add("simple");
            var image = Path.Combine(work.FullName, "fabrik.sif");
            File.WriteAllText(image, "stand-in image");
            var stubLog = Path.Combine(work.FullName, "stub.log");
            var (http, grpc, metrics) = (FreePort(), FreePort(), FreePort());

            var start = new ProcessStartInfo("bash") { WorkingDirectory = work.FullName, RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(Path.Combine(RepositoryLayout.Root, "deploy", "slurm", "fabrik-bench.sbatch"));
            var environment = new Dictionary<string, string>
            {
                ["PATH"] = Path.Combine(RepositoryLayout.Root, "Tests", "Deployment", "SlurmStubs") + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH"),
                ["STUB_LOG"] = stubLog,
                ["FABRIK_DLL"] = Path.Combine(AppContext.BaseDirectory, "fabrik.dll"),
                ["BENCH_DLL"] = Path.Combine(AppContext.BaseDirectory, "Fabrik.Tests.dll"), // runs the load command too (Program.cs)
                ["SLURM_JOB_ID"] = "4242",
                ["SLURM_JOB_NODELIST"] = "localhost",
                ["SLURM_SUBMIT_DIR"] = work.FullName,
                ["FABRIK_SIF"] = image,
                ["MODEL_REPOSITORY"] = repository.Path,
                ["MODEL"] = "simple",
                ["CONCURRENCY"] = "1:2:1",
                ["LOADGEN_FLAGS"] = "-p 100 -r 3",
                ["FABRIK_FLAGS"] = "--exit-timeout-secs=10 --id=bench",
                ["FABRIK_ADDRESS"] = "127.0.0.1",
                ["FABRIK_COMMIT"] = "0123abcd",
                ["HTTP_PORT"] = http.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["GRPC_PORT"] = grpc.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["METRICS_PORT"] = metrics.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            foreach (var (name, value) in environment)
            {
                start.Environment[name] = value;
            }
            using var job = Process.Start(start)!;
            var output = job.StandardOutput.ReadToEndAsync();
            var error = job.StandardError.ReadToEndAsync();
            using (var guard = new CancellationTokenSource(TimeSpan.FromMinutes(5))) // a hung job fails instead of hanging the run
            {
                try
                {
                    await job.WaitForExitAsync(guard.Token);
                }
                catch (OperationCanceledException)
                {
                    job.Kill(entireProcessTree: true);
                    throw;
                }
            }
            var transcript = await output + await error;
            Assert.True(job.ExitCode == 0, transcript);

            // Per node: the load generator's CSV, JSON and SVG, named after the host.
            var results = Path.Combine(work.FullName, "results", "fabrik-4242");
            var hostDirectory = Assert.Single(Directory.GetDirectories(results));
            var host = Path.GetFileName(hostDirectory);
            foreach (var extension in new[] { ".csv", ".json", ".svg" })
            {
                Assert.True(new FileInfo(Path.Combine(hostDirectory, "simple" + extension)).Length > 0, $"no simple{extension}\n{transcript}");
            }
            Assert.Equal(3, File.ReadAllLines(Path.Combine(hostDirectory, "simple.csv")).Count(line => line.Length > 0)); // header, concurrency 1 and 2

            // run.json records what ran where.
            var run = JsonNode.Parse(File.ReadAllText(Path.Combine(results, "run.json")))!;
            Assert.Equal("4242", (string)run["job"]!);
            Assert.Equal("0123abcd", (string)run["commit"]!);
            Assert.Equal("simple", (string)run["model"]!);
            var flags = run["server_flags"]!.AsArray().Select(flag => (string)flag!).ToArray();
            Assert.Contains("--model-repository=/models", flags);
            Assert.Contains("--id=bench", flags);
            var node = Assert.Single(run["nodes"]!.AsArray())!;
            Assert.Equal(host, (string)node["host"]!);
            Assert.False(string.IsNullOrWhiteSpace((string?)node["cpu"]));
            Assert.Equal(Environment.ProcessorCount, (int)node["cores"]!);
            Assert.NotNull((string?)node["gpus"]);
            Assert.NotNull((string?)node["driver"]);

            // The server ran from the image with the host's GPU driver and the repository bound
            // read-only, and it is gone: SIGTERM ended it and nothing listens on its port.
            var stubs = File.ReadAllText(stubLog);
            Assert.Contains($"apptainer exec --nv --bind {repository.Path}:/models:ro", stubs, StringComparison.Ordinal);
            Assert.Contains("Fabrik is serving", File.ReadAllText(Path.Combine(results, $"fabrik-{host}.log")), StringComparison.Ordinal);
            using var client = new TcpClient();
            await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(IPAddress.Loopback, http));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
