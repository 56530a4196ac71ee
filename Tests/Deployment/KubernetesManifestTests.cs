using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fabrik.Tests.Support;
using Xunit;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Fabrik.Tests.Deployment;

/// <summary>
/// deploy/kubernetes: every kustomization renders, and the container arguments found in the
/// manifests start the real server, which then answers on the ports and probe paths the
/// manifests declare.
/// </summary>
public sealed partial class KubernetesManifestTests
{
    private static readonly string Manifests = Path.Combine(RepositoryLayout.Root, "deploy", "kubernetes");

    [KubectlFact]
    public async Task Kustomize_EveryKustomization_RendersWhatItsFlavourNeeds()
    {
        var directories = Directory.EnumerateFiles(Manifests, "kustomization.yaml", SearchOption.AllDirectories)
            .Select(Path.GetDirectoryName).Select(directory => Path.GetRelativePath(Manifests, directory!)).Order().ToArray();
        Assert.Equal(["base", "kserve", Path.Combine("overlays", "cpu"), Path.Combine("overlays", "gpu")], directories);

        var baseArgs = Container(Load(Path.Combine(Manifests, "base", "deployment.yaml")).Single())["args"]!.AsArray().Select(arg => (string)arg!);
        foreach (var (overlay, tag) in new[] { ("cpu", "cpu"), ("gpu", "cuda") })
        {
            var rendered = await RenderAsync(Path.Combine("overlays", overlay));
            Assert.Equal(
                ["Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PersistentVolumeClaim", "PodDisruptionBudget", "Service"],
                rendered.Select(document => (string)document["kind"]!).Order());
            var deployment = rendered.Single(document => (string)document["kind"]! == "Deployment");
            var container = Container(deployment);
            Assert.Equal($"fabrik:{tag}", (string)container["image"]!);
            Assert.Equal(baseArgs, container["args"]!.AsArray().Select(arg => (string)arg!));
            Assert.Equal(overlay == "gpu" ? "1" : null, (string?)container["resources"]!["limits"]!["nvidia.com/gpu"]);

            // The selectors of the Service, the PodDisruptionBudget and the NetworkPolicy pick the pods.
            var podLabels = deployment["spec"]!["template"]!["metadata"]!["labels"]!.AsObject();
            foreach (var selector in new[]
            {
                rendered.Single(document => (string)document["kind"]! == "Service")["spec"]!["selector"]!,
                rendered.Single(document => (string)document["kind"]! == "PodDisruptionBudget")["spec"]!["selector"]!["matchLabels"]!,
                rendered.Single(document => (string)document["kind"]! == "NetworkPolicy")["spec"]!["podSelector"]!["matchLabels"]!,
            })
            {
                Assert.NotEmpty(selector.AsObject());
                Assert.All(selector.AsObject(), label => Assert.Equal((string)label.Value!, (string?)podLabels[label.Key]));
            }
            var autoscaler = rendered.Single(document => (string)document["kind"]! == "HorizontalPodAutoscaler");
            Assert.Equal("nv_inference_pending_request_count", (string)autoscaler["spec"]!["metrics"]![0]!["pods"]!["metric"]!["name"]!);
        }

        var kserve = await RenderAsync("kserve");
        var runtime = kserve.Single(document => (string)document["kind"]! == "ClusterServingRuntime");
        Assert.Equal(["onnx", "pytorch"], runtime["spec"]!["supportedModelFormats"]!.AsArray().Select(format => (string)format!["name"]!));
        Assert.Contains("v2", runtime["spec"]!["protocolVersions"]!.AsArray().Select(version => (string)version!));
        var service = kserve.Single(document => (string)document["kind"]! == "InferenceService");
        Assert.Equal((string)runtime["metadata"]!["name"]!, (string)service["spec"]!["predictor"]!["model"]!["runtime"]!);
    }

    [Fact]
    public async Task Deployment_ContainerArgs_StartTheServerOnTheDeclaredPortsAndProbePaths()
    {
        var deployment = Load(Path.Combine(Manifests, "base", "deployment.yaml")).Single();
        var container = Container(deployment);
        var service = Load(Path.Combine(Manifests, "base", "service.yaml")).Single();

        // The pod's ports by name, and the Service sending 8000, 8001, 8002 to those names.
        var ports = container["ports"]!.AsArray().ToDictionary(port => (string)port!["name"]!, port => int.Parse((string)port!["containerPort"]!));
        Assert.Equal(new Dictionary<string, int> { ["http"] = 8000, ["grpc"] = 8001, ["metrics"] = 8002 }, ports);
        Assert.All(service["spec"]!["ports"]!.AsArray(), port => Assert.Equal(ports[(string)port!["targetPort"]!], int.Parse((string)port["port"]!)));

        // The termination grace period covers the preStop pause and --exit-timeout-secs.
        var args = container["args"]!.AsArray().Select(arg => (string)arg!).ToArray();
        var exitTimeout = int.Parse(Value(args, "exit-timeout-secs")!);
        var preStop = int.Parse((string)container["lifecycle"]!["preStop"]!["sleep"]!["seconds"]!);
        Assert.True(int.Parse((string)deployment["spec"]!["template"]!["spec"]!["terminationGracePeriodSeconds"]!) > exitTimeout + preStop);

        using var repository = new TemporaryRepository().Add("simple");
        await using var fabrik = await StartWithManifestArgsAsync(container, ports, repository);
        using var client = new HttpClient { BaseAddress = fabrik.Address };
        foreach (var probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
        {
            var httpGet = container[probe]!["httpGet"]!;
            Assert.Equal("http", (string)httpGet["port"]!);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync((string)httpGet["path"]!)).StatusCode);
        }
        Assert.Equal("/v2/health/ready", (string)container["readinessProbe"]!["httpGet"]!["path"]!);
        Assert.Equal("/v2/health/live", (string)container["livenessProbe"]!["httpGet"]!["path"]!);
    }

    [Fact]
    public async Task KServeRuntime_ContainerArgs_StartTheServerOnKServesPorts()
    {
        var runtime = Load(Path.Combine(Manifests, "kserve", "clusterservingruntime.yaml")).Single();
        var container = runtime["spec"]!["containers"]![0]!;
        var args = container["args"]!.AsArray().Select(arg => (string)arg!).ToArray();
        Assert.Equal("8080", Value(args, "http-port")); // KServe's HTTP port
        Assert.Equal("9000", Value(args, "grpc-port")); // KServe's gRPC port

        using var repository = new TemporaryRepository().Add("simple");
        await using var fabrik = await StartWithManifestArgsAsync(container, new Dictionary<string, int>(), repository);
        using var client = new HttpClient { BaseAddress = fabrik.Address };
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/models/simple/ready")).StatusCode);
        Assert.Contains(fabrik.Log, line => line.Contains("gRPC service listening", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("base/deployment.yaml")]
    [InlineData("kserve/clusterservingruntime.yaml")]
    public void Container_RunsLockedDownAsTheImagesUser(string manifest)
    {
        var document = Load(Path.Combine(Manifests, manifest)).Single();
        var container = Container(document);
        var security = container["securityContext"]!;
        Assert.Equal("false", (string)security["allowPrivilegeEscalation"]!);
        Assert.Equal("true", (string)security["readOnlyRootFilesystem"]!);
        Assert.Equal("true", (string)security["runAsNonRoot"]!);
        Assert.Equal(["ALL"], security["capabilities"]!["drop"]!.AsArray().Select(capability => (string)capability!));
        Assert.NotNull(container["resources"]!["requests"]!["cpu"]);
        Assert.NotNull(container["resources"]!["limits"]!["memory"]);

        // The UID is the one the image declares (Dockerfile USER), and /tmp is writable.
        var user = (string?)security["runAsUser"] ?? (string)document["spec"]!["template"]!["spec"]!["securityContext"]!["runAsUser"]!;
        var dockerfileUser = DockerUser().Match(File.ReadAllText(Path.Combine(RepositoryLayout.Root, "Dockerfile"))).Groups[1].Value;
        Assert.Equal(dockerfileUser, user);
        Assert.Contains(container["volumeMounts"]!.AsArray(), mount => (string)mount!["mountPath"]! == "/tmp");
    }

    /// <summary>Starts fabrik with the container's arguments exactly, except that the model
    /// repository becomes a test repository, ports become 0 (free ones: other servers run on this
    /// machine) and addresses loopback. Checks the replaced ports against <paramref name="declared"/>.</summary>
    private static async Task<FabrikProcess> StartWithManifestArgsAsync(JsonNode container, IReadOnlyDictionary<string, int> declared, TemporaryRepository repository)
    {
        var args = new List<string>();
        foreach (var arg in container["args"]!.AsArray().Select(arg => (string)arg!))
        {
            var flag = FlagPattern().Match(arg);
            Assert.True(flag.Success, $"'{arg}' is not in the --flag=value form");
            var (name, value) = (flag.Groups["name"].Value, flag.Groups["value"].Value);
            if (name is "model-repository" or "model-store")
            {
                args.Add($"--{name}={repository.Path}");
            }
            else if (name.EndsWith("-port", StringComparison.Ordinal))
            {
                if (declared.TryGetValue(name[..^"-port".Length], out var port))
                {
                    Assert.Equal(port, int.Parse(value));
                }
                args.Add($"--{name}=0");
            }
            else if (name.EndsWith("-address", StringComparison.Ordinal))
            {
                Assert.Equal("0.0.0.0", value);
                args.Add($"--{name}=127.0.0.1");
            }
            else
            {
                args.Add(arg);
            }
        }
        Assert.Equal(["/opt/fabrik/fabrik"], container["command"]!.AsArray().Select(part => (string)part!));
        return await FabrikProcess.StartAsync([.. args]);
    }

    private static string? Value(string[] args, string name) =>
        args.Select(arg => FlagPattern().Match(arg)).Where(match => match.Success && match.Groups["name"].Value == name)
            .Select(match => match.Groups["value"].Value).SingleOrDefault();

    private static JsonNode Container(JsonNode document) =>
        (document["spec"]!["template"]?["spec"] ?? document["spec"]!)["containers"]![0]!;

    private static async Task<List<JsonNode>> RenderAsync(string kustomization)
    {
        var start = new ProcessStartInfo(KubectlFactAttribute.Kubectl!) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("kustomize");
        start.ArgumentList.Add(Path.Combine(Manifests, kustomization));
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"kubectl kustomize {kustomization}: {await error}");
        return Parse(output);
    }

    private static List<JsonNode> Load(string path) => Parse(File.ReadAllText(path));

    /// <summary>Every YAML document in <paramref name="text"/>, scalars as strings.</summary>
    private static List<JsonNode> Parse(string text)
    {
        var deserializer = new DeserializerBuilder().Build();
        var parser = new Parser(new StringReader(text));
        parser.Consume<StreamStart>();
        var documents = new List<JsonNode>();
        while (parser.Accept<DocumentStart>(out _))
        {
            if (ToJson(deserializer.Deserialize<object>(parser)) is { } document)
            {
                documents.Add(document);
            }
        }
        return documents;
    }

    private static JsonNode? ToJson(object? value) => value switch
    {
        null => null,
        Dictionary<object, object?> map => new JsonObject(map.Select(entry => KeyValuePair.Create((string)entry.Key, ToJson(entry.Value)))),
        List<object?> list => new JsonArray([.. list.Select(ToJson)]),
        _ => JsonValue.Create(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)),
    };

    [GeneratedRegex(@"^--(?<name>[a-z0-9-]+)=(?<value>.*)$")]
    private static partial Regex FlagPattern();

    [GeneratedRegex(@"(?m)^USER (\d+)")]
    private static partial Regex DockerUser();
}
