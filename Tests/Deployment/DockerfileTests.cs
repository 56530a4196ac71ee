using System.Text.Json;
using System.Text.RegularExpressions;
using Fabrik.Hosting;
using Xunit;

namespace Fabrik.Tests.Deployment;

/// <summary>
/// The Dockerfile read as Docker reads it (continuations joined, comments dropped), since no
/// Docker engine runs here: its stages, user, ports, health check, labels and entrypoint.
/// </summary>
public sealed partial class DockerfileTests
{
    private static readonly Dockerfile File = Dockerfile.Parse(System.IO.File.ReadAllText(Path.Combine(RepositoryLayout.Root, "Dockerfile")));

    [Fact]
    public void Stages_BuildBothFlavoursAndCpuIsTheDefaultTarget()
    {
        Assert.Equal(["build", "publish-cpu", "publish-cuda", "cuda", "cpu"], File.Stages.Select(stage => stage.Name));
        Assert.Equal("cpu", File.Stages[^1].Name); // docker build without --target builds the last stage
        Assert.Contains("runtime-deps", File.Stage("cpu").BaseImage, StringComparison.Ordinal);
        Assert.Matches(@"nvidia/cuda:13\.\d+\.\d+-cudnn-runtime-", File.Stage("cuda").BaseImage);
    }

    [Fact]
    public void BaseImages_ArePinnedByDigest()
    {
        foreach (var stage in File.Stages.Where(stage => !File.Stages.Any(other => other.Name == stage.BaseImage)))
        {
            Assert.Matches(@"^[\w./:-]+:[\w.-]+@sha256:[0-9a-f]{64}$", stage.BaseImage);
        }
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("cuda")]
    public void RuntimeStage_RunsAsNonRootAndExposesTheDefaultPorts(string name)
    {
        var stage = File.Stage(name);
        var user = Assert.Single(stage.Values("USER"));
        var uid = user.Split(':')[0];
        Assert.Matches("^[0-9]+$", uid); // numeric, so Kubernetes runAsNonRoot can verify it
        Assert.NotEqual("0", uid);

        var defaults = ServerOptions.Parse([]);
        var exposed = Assert.Single(stage.Values("EXPOSE")).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).Order();
        Assert.Equal(new[] { defaults.HttpPort, defaults.GrpcPort, defaults.MetricsPort }.Order(), exposed);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("cuda")]
    public void RuntimeStage_ChecksReadinessOnTheHttpPortWithoutAShell(string name)
    {
        var check = Assert.Single(File.Stage(name).Values("HEALTHCHECK"));
        var command = JsonSerializer.Deserialize<string[]>(check[(check.IndexOf("CMD ", StringComparison.Ordinal) + 4)..])!;
        Assert.Equal(["/opt/fabrik/fabrik", "probe", $"http://127.0.0.1:{ServerOptions.Parse([]).HttpPort}/v2/health/ready"], command);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("cuda")]
    public void RuntimeStage_LabelsAndEntrypointAreWhatTheServerAccepts(string name)
    {
        var stage = File.Stage(name);
        var labels = string.Join(" ", stage.Values("LABEL"));
        foreach (var label in new[] { "version", "revision", "source" })
        {
            Assert.Contains($"org.opencontainers.image.{label}=", labels, StringComparison.Ordinal);
        }

        var entrypoint = JsonSerializer.Deserialize<string[]>(Assert.Single(stage.Values("ENTRYPOINT")))!;
        Assert.Equal("/opt/fabrik/fabrik", entrypoint[0]);
        var options = ServerOptions.Parse(entrypoint[1..]);
        Assert.Equal(["/models"], options.ModelRepositories);
        Assert.Equal(System.Net.IPAddress.Any, options.HttpAddress);
        Assert.Equal(System.Net.IPAddress.Any, options.GrpcAddress);
        Assert.Contains("/models", stage.Values("VOLUME").Single(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("publish-cpu", "cpu")]
    [InlineData("publish-cuda", "cuda")]
    public void PublishStage_UsesTheBundlesPublishTarget(string name, string accelerator)
    {
        // The Cake Publish target is what PublishedBundleTests runs: self-contained, with the SBOM.
        var run = Assert.Single(File.Stage(name).Values("RUN"));
        Assert.Contains($"dotnet cake --target=Publish --accelerator={accelerator} ", run, StringComparison.Ordinal);
        Assert.Contains($"mv /artifacts/publish/{accelerator} /opt/fabrik", run, StringComparison.Ordinal);
        Assert.Contains("COPY --from=" + name + " ", string.Join("\n", File.Stages.SelectMany(stage => stage.Instructions).Select(i => $"{i.Keyword} {i.Arguments}")), StringComparison.Ordinal);
    }

    /// <summary>A Dockerfile as a list of stages, each a list of (instruction, arguments).</summary>
    private sealed record Dockerfile(IReadOnlyList<Stage> Stages)
    {
        public Stage Stage(string name) => Stages.Single(stage => stage.Name == name);

        public static Dockerfile Parse(string text)
        {
            var arguments = new Dictionary<string, string>(StringComparer.Ordinal);
            var stages = new List<Stage>();
            var logical = "";
            foreach (var raw in text.Split('\n'))
            {
                var line = raw.TrimEnd('\r');
                if (line.TrimStart().StartsWith('#'))
                {
                    continue;
                }
                if (line.EndsWith('\\'))
                {
                    logical += line[..^1] + " ";
                    continue;
                }
                logical += line;
                var instruction = logical.Trim();
                logical = "";
                if (instruction.Length == 0)
                {
                    continue;
                }
                var space = instruction.IndexOf(' ', StringComparison.Ordinal);
                var keyword = instruction[..space].ToUpperInvariant();
                var rest = Regex.Replace(instruction[(space + 1)..].Trim(), @"\s+", " ");
                if (keyword == "ARG" && stages.Count == 0 && rest.Split('=', 2) is [var argument, var value])
                {
                    arguments[argument] = value;
                }
                else if (keyword == "FROM")
                {
                    var from = FromLine().Match(rest);
                    var image = Regex.Replace(from.Groups["image"].Value, @"\$\{(\w+)\}", match => arguments[match.Groups[1].Value]);
                    stages.Add(new Stage(from.Groups["name"].Value, image, []));
                }
                else if (stages.Count > 0)
                {
                    stages[^1].Instructions.Add((keyword, rest));
                }
            }
            return new Dockerfile(stages);
        }
    }

    private sealed record Stage(string Name, string BaseImage, List<(string Keyword, string Arguments)> Instructions)
    {
        public IEnumerable<string> Values(string keyword) =>
            Instructions.Where(instruction => instruction.Keyword == keyword).Select(instruction => instruction.Arguments);
    }

    [GeneratedRegex(@"^(?<image>\S+) AS (?<name>\S+)$", RegexOptions.IgnoreCase)]
    private static partial Regex FromLine();
}
