using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Deployment;

/// <summary>Runs alone, after the parallel tests: it publishes the whole server once.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PublishCollection
{
    public const string Name = "publish";
}

/// <summary>
/// The self-contained publish that the container images copy to /opt/fabrik, made here with the
/// image's own publish command and started with the image's own entrypoint arguments, so what the
/// image runs is tested where no image can be built.
/// </summary>
[Collection(PublishCollection.Name)]
public sealed class PublishedServerTests
{
    [Fact]
    public async Task SelfContainedPublish_StartsWithTheImageEntrypointServesAndAnswersItsProbe()
    {
        var work = Directory.CreateTempSubdirectory("fabrik-publish-");
        try
        {
            var output = Path.Combine(work.FullName, "opt-fabrik");
            // The cpu image's publish (Dockerfile, publish-cpu), with its build files kept out of the checkout.
            var publish = await RunAsync("dotnet", RepositoryLayout.Root,
                "publish", "Runtime/Runtime.csproj", "-c", "Release", "-r", "linux-x64", "--self-contained", "true",
                "-p:Accelerator=cpu", "-p:RestoreLockedMode=true", "-o", output, "--artifacts-path", Path.Combine(work.FullName, "artifacts"));
            Assert.True(publish.ExitCode == 0, publish.Output);
            var executable = Path.Combine(output, "fabrik");
            Assert.True(File.Exists(executable), "the publish has no fabrik executable");
            Assert.False(File.Exists(Path.Combine(output, "fabrik.runtimeconfig.json"))
                && File.ReadAllText(Path.Combine(output, "fabrik.runtimeconfig.json")).Contains("\"framework\"", StringComparison.Ordinal),
                "the publish depends on an installed .NET runtime");

            // The entrypoint of the image, with the test's repository for /models and free ports.
            using var repository = new TemporaryRepository().Add("simple").Add("mlp_torch");
            var entrypoint = ImageEntrypoint("cpu");
            Assert.Equal("/opt/fabrik/fabrik", entrypoint[0]);
            var arguments = entrypoint[1..].Select(argument => argument.Replace("=/models", "=" + repository.Path, StringComparison.Ordinal));
            await using var fabrik = await FabrikProcess.StartExecutableAsync(executable,
                [.. arguments, "--http-port=0", "--grpc-port=0", "--metrics-port=0", "--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1"]);

            using var client = new HttpClient { BaseAddress = fabrik.Address };
            foreach (var model in new[] { "simple", "mlp_torch" }) // ONNX Runtime and libtorch, both from the publish
            {
                var sample = Samples.Sample(model, 0);
                var body = new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString();
                using var response = await client.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outputs"]!.AsArray(), 1e-4);
            }

            // The HEALTHCHECK's command, pointed at this server's port; and at a port nothing serves.
            var ready = await RunAsync(executable, work.FullName, "probe", new Uri(fabrik.Address, "/v2/health/ready").ToString());
            Assert.True(ready.ExitCode == 0, ready.Output);
            var missing = await RunAsync(executable, work.FullName, "probe", new Uri(fabrik.Address, "/v2/no-such-route").ToString());
            Assert.Equal(1, missing.ExitCode);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static string[] ImageEntrypoint(string stage)
    {
        var text = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "Dockerfile")).Replace("\\\n", " ", StringComparison.Ordinal);
        var lines = text.Split('\n');
        var from = Array.FindIndex(lines, line => line.StartsWith("FROM ", StringComparison.Ordinal) && line.EndsWith($" AS {stage}", StringComparison.Ordinal));
        var entrypoint = lines.Skip(from + 1).TakeWhile(line => !line.StartsWith("FROM ", StringComparison.Ordinal))
            .Single(line => line.StartsWith("ENTRYPOINT ", StringComparison.Ordinal));
        return JsonSerializer.Deserialize<string[]>(entrypoint["ENTRYPOINT ".Length..])!;
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string executable, string directory, params string[] arguments)
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
