using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
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
        Assert.Equal(
            ["base", Path.Combine("components", "secured"), "kserve", Path.Combine("overlays", "cpu"), Path.Combine("overlays", "gpu"), Path.Combine("overlays", "secured")],
            directories);

        var baseArgs = Container(Load(Path.Combine(Manifests, "base", "deployment.yaml")).Single())["args"]!.AsArray().Select(arg => (string)arg!).ToArray();
        foreach (var (overlay, tag) in new[] { ("cpu", "cpu"), ("gpu", "cuda"), ("secured", "cpu") })
        {
            var rendered = await RenderAsync(Path.Combine("overlays", overlay));
            Assert.Equal(
                ["Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PersistentVolumeClaim", "PodDisruptionBudget", "Service"],
                rendered.Select(document => (string)document["kind"]!).Order());
            var deployment = rendered.Single(document => (string)document["kind"]! == "Deployment");
            var container = Container(deployment);
            Assert.Equal($"fabrik:{tag}", (string)container["image"]!);
            // The secured overlay adds flags after the base's and changes none of them.
            Assert.Equal(baseArgs, container["args"]!.AsArray().Select(arg => (string)arg!).Take(overlay == "secured" ? baseArgs.Length : int.MaxValue));
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

    [KubectlFact]
    public async Task SecuredOverlay_ContainerArgs_StartTheServerWithTlsKeysSignedModelsAndAudit()
    {
        var rendered = await RenderAsync(Path.Combine("overlays", "secured"));
        var deployment = rendered.Single(document => (string)document["kind"]! == "Deployment");
        var pod = deployment["spec"]!["template"]!["spec"]!;
        var container = Container(deployment);
        var volumes = pod["volumes"]!.AsArray().ToDictionary(volume => (string)volume!["name"]!, volume => volume!);
        // Every port of the Service says TLS; none says cleartext HTTP/2 any more.
        var service = rendered.Single(document => (string)document["kind"]! == "Service");
        Assert.All(service["spec"]!["ports"]!.AsArray(), port => Assert.Equal("https", (string?)port!["appProtocol"]));

        // Every file a flag names lies under a mount of the container; each mount gets a folder
        // of its own here, filled with what the Secret or ConfigMap behind it would hold.
        using var pki = new TestCertificates();
        using var repository = new TemporaryRepository().Add("simple");
        var mounts = new Dictionary<string, string>();
        foreach (var mount in container["volumeMounts"]!.AsArray())
        {
            var path = (string)mount!["mountPath"]!;
            if (path is not ("/models" or "/tmp"))
            {
                mounts[path] = Directory.CreateDirectory(Path.Combine(pki.Folder, (string)mount["name"]!)).FullName;
            }
        }
        string Local(string path) => mounts.Where(mount => Under(path, mount.Key))
            .Select(mount => mount.Value + path[mount.Key.Length..]).Single();
        var args = container["args"]!.AsArray().Select(arg => (string)arg!).ToArray();

        // The TLS Secret, as cert-manager writes it (tls.crt, tls.key).
        var server = pki.Issue("CN=fabrik", server: true, "server");
        Assert.Equal(Value(args, "http-tls-cert"), Value(args, "grpc-server-cert"));
        File.Copy(server.CertificatePath, Local(Value(args, "http-tls-cert")!));
        File.Copy(server.KeyPath, Local(Value(args, "http-tls-key")!));
        Assert.Equal("fabrik-tls", (string)volumes[MountName(container, Value(args, "http-tls-cert")!)]["secret"]!["secretName"]!);
        // The API-key Secret: hashes only.
        var key = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        File.WriteAllText(Local(Value(args, "auth-keys")!),
            $$"""{"keys": [{"id": "app", "sha256": "{{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))}}", "scopes": ["infer:*"]}]}""");
        Assert.Equal("fabrik-api-keys", (string)volumes[MountName(container, Value(args, "auth-keys")!)]["secret"]!["secretName"]!);
        // The trust ConfigMap, and the model signed with its private half.
        using var signing = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        File.WriteAllText(Local(Value(args, "model-trust-key")!), signing.ExportSubjectPublicKeyInfoPem());
        Fabrik.Security.ModelSigning.ModelSignature.Sign(Path.Combine(repository.Path, "simple", "1"), signing);

        // Signed versions are copied under TMPDIR while they load: a disk volume, not the 64 MiB
        // memory /tmp, and the ephemeral-storage limit leaves room for every disk volume.
        var tmpdir = (string)container["env"]!.AsArray().Single(variable => (string)variable!["name"]! == "TMPDIR")!["value"]!;
        var scratch = volumes[MountName(container, tmpdir)]["emptyDir"]!;
        Assert.Null(scratch["medium"]);
        Assert.True(Quantity((string)scratch["sizeLimit"]!) >= Quantity("4Gi"));
        var onDisk = volumes.Values.Select(volume => volume["emptyDir"]).OfType<JsonNode>().Where(dir => (string?)dir["medium"] != "Memory")
            .Sum(dir => Quantity((string)dir["sizeLimit"]!));
        Assert.True(Quantity((string)container["resources"]!["limits"]!["ephemeral-storage"]!) > onDisk);

        await using var fabrik = await StartWithManifestArgsAsync(container, new Dictionary<string, int>(), repository, mounts,
            new Dictionary<string, string> { ["TMPDIR"] = Local(tmpdir) });
        Assert.Equal("https", fabrik.Address.Scheme);
        using var client = new HttpClient(pki.Handler()) { BaseAddress = fabrik.Address };
        // The probes, over HTTPS as the kubelet sends them, without a key.
        foreach (var probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
        {
            var httpGet = container[probe]!["httpGet"]!;
            Assert.Equal("HTTPS", (string)httpGet["scheme"]!);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync((string)httpGet["path"]!)).StatusCode);
        }
        // The signed model serves, to callers with a key only.
        var body = new StringContent("""{"inputs":[{"name":"INPUT0","datatype":"INT32","shape":[1,16],"data":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]},{"name":"INPUT1","datatype":"INT32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}""");
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostAsync("/v2/models/simple/infer", body)).StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/simple/infer") { Content = body };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        var answer = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
            JsonNode.Parse(await answer.Content.ReadAsStringAsync())!["outputs"]!.AsArray()
                .Single(output => (string)output!["name"]! == "OUTPUT0")!["data"]!.AsArray().Select(value => (int)value!));

        // The audit log is on its volume, and says the model loaded signed.
        var audit = File.ReadAllLines(Local(Value(args, "audit-log")!)).Select(line => JsonNode.Parse(line)!).ToList();
        var load = audit.Single(record => (string?)record["event"] == "model-load");
        Assert.Equal("simple", (string?)load["model"]);
        Assert.Equal("true", load["signed"]?.ToJsonString());
        Assert.Contains(audit, record => (string?)record["event"] == "auth-failure");
    }

    /// <summary>The name of the volume mounted where <paramref name="path"/> lies.</summary>
    private static string MountName(JsonNode container, string path) => container["volumeMounts"]!.AsArray()
        .Where(mount => Under(path, (string)mount!["mountPath"]!))
        .Select(mount => (string)mount!["name"]!).Single();

    /// <summary>Whether <paramref name="path"/> is <paramref name="folder"/> or lies in it.</summary>
    private static bool Under(string path, string folder) =>
        path == folder || path.StartsWith(folder + "/", StringComparison.Ordinal);

    /// <summary>A Kubernetes quantity in bytes (the binary suffixes used here).</summary>
    private static long Quantity(string text) => text[^2..] switch
    {
        "Ki" => long.Parse(text[..^2]) << 10,
        "Mi" => long.Parse(text[..^2]) << 20,
        "Gi" => long.Parse(text[..^2]) << 30,
        _ => long.Parse(text),
    };

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
    /// repository becomes a test repository, files under a mount move to the folder given for it
    /// in <paramref name="mounts"/>, ports become 0 (free ones: other servers run on this
    /// machine) and addresses loopback. Checks the replaced ports against <paramref name="declared"/>.</summary>
    private static async Task<FabrikProcess> StartWithManifestArgsAsync(JsonNode container, IReadOnlyDictionary<string, int> declared, TemporaryRepository repository,
        IReadOnlyDictionary<string, string>? mounts = null, IReadOnlyDictionary<string, string>? environment = null)
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
            else if (mounts?.FirstOrDefault(mount => Under(value, mount.Key)) is { Key: not null } mount)
            {
                args.Add($"--{name}={mount.Value}{value[mount.Key.Length..]}");
            }
            else
            {
                args.Add(arg);
            }
        }
        Assert.Equal(["/opt/fabrik/fabrik"], container["command"]!.AsArray().Select(part => (string)part!));
        return await FabrikProcess.StartAsync(environment ?? new Dictionary<string, string>(), [.. args]);
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
