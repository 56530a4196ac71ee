using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Deployment;

/// <summary>Runs alone, after the parallel tests: it publishes the whole server once.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PublishCollection : ICollectionFixture<BundleFixture>
{
    public const string Name = "publish";
}

/// <summary>
/// <c>dotnet cake --target=Bundle</c> once, into a temporary folder: the self-contained publish
/// that the container images copy to /opt/fabrik (their Dockerfile stages run the same Publish
/// target), packed as the air-gapped tarball, then unpacked as an installer would.
/// </summary>
public sealed class BundleFixture : IAsyncLifetime
{
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("fabrik-bundle-");

    public string Tarball { get; private set; } = "";

    /// <summary>The unpacked bundle's top folder (fabrik/, fabrik.service, install.sh).</summary>
    public string Unpacked { get; private set; } = "";

    public string Executable => Path.Combine(Unpacked, "fabrik", "fabrik");

    public async Task InitializeAsync()
    {
        var artifacts = Path.Combine(_work.FullName, "artifacts");
        var tools = await Run.ProcessAsync("dotnet", RepositoryLayout.Root, "tool", "restore"); // Cake and CycloneDX, as pinned
        Assert.True(tools.ExitCode == 0, tools.Output);
        var cake = await Run.ProcessAsync("dotnet", RepositoryLayout.Root, "cake", "--target=Bundle", "--build-version=1.2.3-test", $"--artifacts={artifacts}", "--gzip-level=1");
        Assert.True(cake.ExitCode == 0, cake.Output);
        Tarball = Path.Combine(artifacts, "fabrik-1.2.3-test-linux-x64-cpu.tar.gz");
        var unpack = Path.Combine(_work.FullName, "unpacked");
        Directory.CreateDirectory(unpack);
        var tar = await Run.ProcessAsync("tar", unpack, "--extract", "--gzip", "--file", Tarball);
        Assert.True(tar.ExitCode == 0, tar.Output);
        Unpacked = Path.Combine(unpack, "fabrik-1.2.3-test-linux-x64-cpu");
    }

    public Task DisposeAsync()
    {
        _work.Delete(recursive: true);
        return Task.CompletedTask;
    }
}

[Collection(PublishCollection.Name)]
public sealed class PublishedBundleTests(BundleFixture bundle)
{
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Bundle_CarriesItsChecksumSbomUnitAndInstaller()
    {
        // The .sha256 beside the tarball is in sha256sum's format and matches the bytes.
        var expected = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(bundle.Tarball)));
        Assert.Equal($"{expected}  {Path.GetFileName(bundle.Tarball)}\n", File.ReadAllText(bundle.Tarball + ".sha256"));

        Assert.True(File.Exists(bundle.Executable));
        Assert.True(File.GetUnixFileMode(bundle.Executable).HasFlag(UnixFileMode.UserExecute));
        Assert.True(File.GetUnixFileMode(Path.Combine(bundle.Unpacked, "install.sh")).HasFlag(UnixFileMode.UserExecute));
        // Self-contained: no .NET runtime on the host is needed.
        Assert.DoesNotContain("\"framework\"", File.ReadAllText(Path.Combine(bundle.Unpacked, "fabrik", "fabrik.runtimeconfig.json")), StringComparison.Ordinal);

        var sbom = JsonNode.Parse(File.ReadAllText(Path.Combine(bundle.Unpacked, "fabrik", "sbom.cdx.json")))!;
        Assert.Equal("CycloneDX", (string)sbom["bomFormat"]!);
        Assert.Equal("fabrik", (string)sbom["metadata"]!["component"]!["name"]!);
        Assert.Equal("1.2.3-test", (string)sbom["metadata"]!["component"]!["version"]!);
        var components = sbom["components"]!.AsArray().Select(component => $"{component!["name"]}@{component["version"]}").ToArray();
        // The versions Directory.Packages.props pins, read independently of the SBOM tool.
        var pins = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "Directory.Packages.props"));
        foreach (var package in new[] { "Microsoft.ML.OnnxRuntime", "TorchSharp-cpu", "Grpc.AspNetCore", "Google.Protobuf" })
        {
            var version = System.Text.RegularExpressions.Regex.Match(pins, $"Include=\"{package}\" Version=\"([^\"]+)\"").Groups[1].Value;
            Assert.Contains($"{package}@{version}", components);
        }
    }

    [Fact]
    public async Task SystemdUnit_VerifiesAndItsCommandLineStartsTheServer()
    {
        var unit = File.ReadAllText(Path.Combine(bundle.Unpacked, "fabrik.service"));
        var execStart = unit.Split('\n').Single(line => line.StartsWith("ExecStart=", StringComparison.Ordinal))["ExecStart=".Length..].Split(' ');
        Assert.Equal("/opt/fabrik/fabrik", execStart[0]);
        foreach (var setting in new[] { "User=fabrik", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "CapabilityBoundingSet=\n", "KillSignal=SIGTERM" })
        {
            Assert.Contains(setting, unit, StringComparison.Ordinal);
        }

        if (File.Exists("/usr/bin/systemd-analyze"))
        {
            var copy = Path.Combine(bundle.Unpacked, "..", "fabrik.service");
            File.WriteAllText(copy, unit.Replace("/opt/fabrik/fabrik", bundle.Executable, StringComparison.Ordinal));
            var verify = await Run.ProcessAsync("/usr/bin/systemd-analyze", bundle.Unpacked, "verify", copy);
            Assert.True(verify.ExitCode == 0, verify.Output);
        }

        using var repository = new TemporaryRepository().Add("simple");
        var args = execStart[1..].Select(arg => arg.StartsWith("--model-repository=", StringComparison.Ordinal) ? "--model-repository=" + repository.Path
            : arg.EndsWith("-port=8000", StringComparison.Ordinal) || arg.EndsWith("-port=8001", StringComparison.Ordinal) || arg.EndsWith("-port=8002", StringComparison.Ordinal) ? arg[..(arg.IndexOf('=') + 1)] + "0"
            : arg).ToArray();
        Assert.Contains("--http-address=127.0.0.1", args); // loopback unless told otherwise
        await using var fabrik = await FabrikProcess.StartExecutableAsync(bundle.Executable, args);
        using var client = new HttpClient { BaseAddress = fabrik.Address };
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/health/ready")).StatusCode);
    }

    [Fact]
    public async Task ImageEntrypoint_OnTheBundledServer_ServesBothBackendsAndAnswersTheProbe()
    {
        // The cpu image's entrypoint, with the test's repository for /models and free ports.
        using var repository = new TemporaryRepository().Add("simple").Add("mlp_torch");
        var entrypoint = ImageEntrypoint("cpu");
        Assert.Equal("/opt/fabrik/fabrik", entrypoint[0]);
        var arguments = entrypoint[1..].Select(argument => argument.Replace("=/models", "=" + repository.Path, StringComparison.Ordinal));
        await using var fabrik = await FabrikProcess.StartExecutableAsync(bundle.Executable,
            [.. arguments, "--http-port=0", "--grpc-port=0", "--metrics-port=0", "--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1"]);

        using var client = new HttpClient { BaseAddress = fabrik.Address };
        foreach (var model in new[] { "simple", "mlp_torch" }) // ONNX Runtime and libtorch, both from the bundle
        {
            var sample = Samples.Sample(model, 0);
            var body = new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString();
            using var response = await client.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outputs"]!.AsArray(), 1e-4);
        }

        // The HEALTHCHECK's command, pointed at this server; and at a route that answers 404.
        var ready = await Run.ProcessAsync(bundle.Executable, bundle.Unpacked, "probe", new Uri(fabrik.Address, "/v2/health/ready").ToString());
        Assert.True(ready.ExitCode == 0, ready.Output);
        var missing = await Run.ProcessAsync(bundle.Executable, bundle.Unpacked, "probe", new Uri(fabrik.Address, "/v2/no-such-route").ToString());
        Assert.Equal(1, missing.ExitCode);
    }

    [NetworkNamespaceFact]
    public async Task ImageEntrypoint_Exactly_ServesWithNoNetworkAtAll()
    {
        // In a new network namespace there is only loopback: no route out, no DNS, and the
        // image's own ports (0.0.0.0:8000-8002) are free. The server must start, load and serve.
        using var repository = new TemporaryRepository().Add("simple");
        var entrypoint = ImageEntrypoint("cpu");
        var arguments = entrypoint[1..].Select(argument => argument.Replace("=/models", "=" + repository.Path, StringComparison.Ordinal));
        var script = """
            set -u
            ip link set lo up
            "$@" &
            server=$!
            ready=1
            for _ in $(seq 1 120); do
                if "$1" probe http://127.0.0.1:8000/v2/health/ready; then ready=0; break; fi
                kill -0 "$server" 2>/dev/null || break
                sleep 1
            done
            ip -o link | grep -v ' lo:' && ready=1
            kill -TERM "$server"
            wait "$server"
            exit $ready
            """;
        var run = await Run.ProcessAsync("unshare", bundle.Unpacked, ["--net", "bash", "-c", script, "namespace", bundle.Executable, .. arguments]);
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("/v2/health/ready: 200", run.Output, StringComparison.Ordinal);
    }

    private static string[] ImageEntrypoint(string stage)
    {
        var lines = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "Dockerfile")).Replace("\\\n", " ", StringComparison.Ordinal).Split('\n');
        var from = Array.FindIndex(lines, line => line.StartsWith("FROM ", StringComparison.Ordinal) && line.EndsWith($" AS {stage}", StringComparison.Ordinal));
        var entrypoint = lines.Skip(from + 1).TakeWhile(line => !line.StartsWith("FROM ", StringComparison.Ordinal))
            .Single(line => line.StartsWith("ENTRYPOINT ", StringComparison.Ordinal));
        return JsonSerializer.Deserialize<string[]>(entrypoint["ENTRYPOINT ".Length..])!;
    }
}

/// <summary>A test that needs <c>unshare --net</c> (root, or user namespaces). Elsewhere it is
/// skipped, and the skip message says so.</summary>
public sealed class NetworkNamespaceFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> SkipReason = new(() =>
    {
        try
        {
            var probe = Run.ProcessAsync("unshare", "/", "--net", "true").GetAwaiter().GetResult();
            return probe.ExitCode == 0 ? null : $"unshare --net is not permitted here: {probe.Output.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"unshare is not available: {e.Message}";
        }
    });

    public NetworkNamespaceFactAttribute()
    {
        if (SkipReason.Value is { } reason)
        {
            Skip = reason;
        }
    }
}

internal static class Run
{
    /// <summary>Runs <paramref name="executable"/> to completion; stdout and stderr together.</summary>
    public static async Task<(int ExitCode, string Output)> ProcessAsync(string executable, string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo(executable) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var standardOutput = process.StandardOutput.ReadToEndAsync();
        var standardError = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await standardOutput + standardError);
    }
}
