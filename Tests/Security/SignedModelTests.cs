using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Fabrik.Models;
using Fabrik.Security.ModelSigning;
using Fabrik.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Fabrik.Tests.Security;

/// <summary>
/// Signed model versions: <c>fabrik model sign</c> / <c>verify</c>, and a server with
/// --model-trust-key that serves a signed model and refuses a tampered, an unsigned and a
/// foreign-signed one (UNAVAILABLE with the reason, audited), while the others keep serving.
/// </summary>
public sealed class SignedModelTests : IDisposable
{
    private readonly string _keys = Directory.CreateTempSubdirectory("fabrik-keys-").FullName;
    private readonly TemporaryRepository _repository = new();

    public void Dispose()
    {
        _repository.Dispose();
        Directory.Delete(_keys, recursive: true);
    }

    private (string PrivatePath, string PublicPath, ECDsa Key) NewKey(string name)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var privatePath = Path.Combine(_keys, name + ".key.pem");
        var publicPath = Path.Combine(_keys, name + ".pub.pem");
        File.WriteAllText(privatePath, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(publicPath, key.ExportSubjectPublicKeyInfoPem());
        return (privatePath, publicPath, key);
    }

    private string Version(string model) => Path.Combine(_repository.Path, model, "1");

    [Fact]
    public async Task SignAndVerifyCommands_AcceptTheSignedFolder_AndRejectAFlippedByte()
    {
        var (privatePath, publicPath, key) = NewKey("site");
        using var _ = key;
        _repository.Add("simple");
        var (signed, _, signError) = await FabrikCommand.RunAsync("model", "sign", "--key", privatePath, Version("simple"));
        Assert.True(signed == 0, signError);
        Assert.True(File.Exists(Path.Combine(Version("simple"), "manifest.json")));
        // The signature is plain ECDSA P-256 over the manifest's bytes.
        Assert.True(key.VerifyData(File.ReadAllBytes(Path.Combine(Version("simple"), "manifest.json")),
            File.ReadAllBytes(Path.Combine(Version("simple"), "manifest.sig")), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));

        var (verified, output, _) = await FabrikCommand.RunAsync("model", "verify", "--trust-key", publicPath, Version("simple"));
        Assert.Equal(0, verified);
        Assert.Contains("signature good", output, StringComparison.Ordinal);

        FlipByte(Path.Combine(Version("simple"), "model.onnx"));
        var (refused, _, error) = await FabrikCommand.RunAsync("model", "verify", "--trust-key", publicPath, Version("simple"));
        Assert.Equal(1, refused);
        Assert.Contains("model.onnx does not match its signed SHA-256", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TrustKey_ServesTheSignedModel_AndRefusesTamperedUnsignedAndForeignOnes()
    {
        var (_, publicPath, key) = NewKey("site");
        var (_, _, foreignKey) = NewKey("foreign");
        using (key)
        using (foreignKey)
        {
            _repository.Add("simple").Add("simple", "tampered_model").Add("simple", "tampered_config").Add("simple", "unsigned")
                .Add("simple", "foreign").Add("simple", "extra_file").Add("simple", "linked");
            File.CreateSymbolicLink(Path.Combine(Version("linked"), "weights.bin"), Path.Combine(Version("linked"), "model.onnx"));
            foreach (var model in new[] { "simple", "tampered_model", "tampered_config", "extra_file", "linked" })
            {
                ModelSignature.Sign(Version(model), key);
            }
            ModelSignature.Sign(Version("foreign"), foreignKey);
        }
        FlipByte(Path.Combine(Version("tampered_model"), "model.onnx"));
        var config = Path.Combine(_repository.Path, "tampered_config", "config.pbtxt");
        File.WriteAllText(config, File.ReadAllText(config).Replace("max_batch_size: 8", "max_batch_size: 4", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(Version("extra_file"), "notes.txt"), "added after signing");

        var audit = Path.Combine(_keys, "audit.jsonl");
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--model-trust-key", publicPath, "--audit-log", audit, "--exit-on-error=false");
        var models = host.Server.Models.Models;
        Assert.Equal(ModelState.Ready, models["simple"].State);
        using var http = host.CreateHttpClient();
        await TlsTests.AssertSimpleInfersAsync(http);

        var expected = new Dictionary<string, string>
        {
            ["tampered_model"] = "model.onnx does not match its signed SHA-256",
            ["tampered_config"] = "../config.pbtxt does not match its signed SHA-256",
            ["unsigned"] = "not signed",
            ["foreign"] = "not a signature of manifest.json by a trusted key",
            ["extra_file"] = "notes.txt is not in the signed manifest",
            ["linked"] = "weights.bin is a symbolic link",
        };
        foreach (var (model, reason) in expected)
        {
            Assert.Equal(ModelState.Unavailable, models[model].State);
            Assert.Contains(reason, models[model].Reason, StringComparison.Ordinal);
        }
        var index = JsonNode.Parse(await (await http.PostAsync("/v2/repository/index", null)).Content.ReadAsStringAsync())!.AsArray();
        Assert.Contains("does not match", (string?)index.Single(entry => (string?)entry!["name"] == "tampered_model")!["reason"], StringComparison.Ordinal);

        using var stream = new FileStream(audit, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var records = new StreamReader(stream).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonNode.Parse(line)!).ToList();
        var refused = records.Where(record => (string?)record["event"] == "model-refused").Select(record => (string)record["model"]!).Order().ToArray();
        Assert.Equal(expected.Keys.Order().ToArray(), refused);
        Assert.Contains(records, record => (string?)record["event"] == "model-load" && (string?)record["model"] == "simple" && (bool)record["signed"]!);
    }

    [Fact]
    public async Task AModelFileSwappedAfterVerification_IsNotLoaded_TheVerifiedBytesAre()
    {
        var (_, publicPath, key) = NewKey("site");
        using (key)
        {
            _repository.Add("mlp").Add("mlp_torch");
            ModelSignature.Sign(Version("mlp"), key);
            ModelSignature.Sign(Version("mlp_torch"), key);
        }
        var files = new Dictionary<string, string> { ["mlp"] = "model.onnx", ["mlp_torch"] = "model.pt" };
        var signedHashes = files.ToDictionary(entry => entry.Key, entry => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(Version(entry.Key), entry.Value)))));
        var audit = Path.Combine(_keys, "audit.jsonl");
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--model-trust-key", publicPath,
            "--model-control-mode=explicit", "--audit-log", audit);

        // Between the check and the load, the repository's model file is replaced.
        var swapped = "not the model that was signed"u8.ToArray();
        var copies = new List<(string Folder, UnixFileMode Mode)>();
        host.Server.Services.GetRequiredService<ModelLoader>().VersionVerified = (model, _, copy) =>
        {
            copies.Add((copy, OperatingSystem.IsWindows() ? UnixFileMode.None : File.GetUnixFileMode(Path.GetDirectoryName(copy)!)));
            File.WriteAllBytes(Path.Combine(Version(model), files[model]), swapped);
        };

        using var http = host.CreateHttpClient();
        foreach (var model in files.Keys)
        {
            using var load = await http.PostAsync($"/v2/repository/models/{model}/load", null);
            Assert.True(load.IsSuccessStatusCode, await load.Content.ReadAsStringAsync());
            Assert.Equal(swapped, File.ReadAllBytes(Path.Combine(Version(model), files[model])));
            await AssertServesSamplesAsync(http, model);
        }

        // The copies were private to the server's user and are gone once loaded.
        Assert.Equal(2, copies.Count);
        foreach (var (folder, mode) in copies)
        {
            Assert.True(OperatingSystem.IsWindows() || mode == (UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute), $"the copy's folder has mode {mode}");
            Assert.False(Directory.Exists(folder));
        }
        // The audit records the hashes of the bytes loaded: the signed ones.
        using var stream = new FileStream(audit, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var loads = new StreamReader(stream).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonNode.Parse(line)!)
            .Where(record => (string?)record["event"] == "model-load").ToList();
        foreach (var (model, file) in files)
        {
            var record = loads.Single(record => (string?)record["model"] == model);
            Assert.Equal(signedHashes[model], (string?)record["files"]![file]);
        }
    }

    [Fact]
    public async Task ExternalDataSwappedAfterVerification_IsNotLoaded()
    {
        float[] signedWeights = [1.5f, -2f, 3.25f];
        var version = Path.Combine(_repository.Path, "weights", "1");
        Directory.CreateDirectory(version);
        File.WriteAllBytes(Path.Combine(version, "model.onnx"), OnnxModels.ExternalWeights("weights.bin", signedWeights.Length));
        File.WriteAllBytes(Path.Combine(version, "weights.bin"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(signedWeights.AsSpan()).ToArray());
        var (_, publicPath, key) = NewKey("site");
        using (key)
        {
            ModelSignature.Sign(version, key); // no config.pbtxt: the manifest lists none, and none may appear
        }
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--model-trust-key", publicPath, "--model-control-mode=explicit");
        float[] swappedWeights = [9f, 9f, 9f];
        host.Server.Services.GetRequiredService<ModelLoader>().VersionVerified = (_, _, _) =>
            File.WriteAllBytes(Path.Combine(version, "weights.bin"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(swappedWeights.AsSpan()).ToArray());

        using var http = host.CreateHttpClient();
        using (var load = await http.PostAsync("/v2/repository/models/weights/load", null))
        {
            Assert.True(load.IsSuccessStatusCode, await load.Content.ReadAsStringAsync());
        }
        using var response = await http.PostAsync("/v2/models/weights/infer", new StringContent("{\"inputs\":[]}"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        Assert.Equal(signedWeights, JsonNode.Parse(body)!["outputs"]![0]!["data"]!.AsArray().Select(v => (float)v!.GetValue<double>()));
    }

    [Fact]
    public async Task ATamperedConfig_MakesTheModelUnavailable_WithoutBeingParsed()
    {
        var (_, publicPath, key) = NewKey("site");
        using (key)
        {
            _repository.Add("simple").Add("simple", "tampered");
            ModelSignature.Sign(Version("simple"), key);
            ModelSignature.Sign(Version("tampered"), key);
        }
        // Text the parser refuses: had it been parsed, the reason would be the parser's.
        File.AppendAllText(Path.Combine(_repository.Path, "tampered", "config.pbtxt"), "\nmax_batch_size: { not config }\n");

        await using (var unverified = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--exit-on-error=false"))
        {
            var parsed = unverified.Server.Models.Models["tampered"];
            Assert.Equal(ModelState.Unavailable, parsed.State);
            Assert.StartsWith("config.pbtxt:", parsed.Reason, StringComparison.Ordinal);
        }

        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--model-trust-key", publicPath, "--exit-on-error=false");
        var tampered = host.Server.Models.Models["tampered"];
        Assert.Equal(ModelState.Unavailable, tampered.State);
        Assert.Equal("../config.pbtxt does not match its signed SHA-256", tampered.Reason);
        Assert.Equal(ModelState.Ready, host.Server.Models.Models["simple"].State);
        using var http = host.CreateHttpClient();
        await AssertServesSamplesAsync(http, "simple");
    }

    /// <summary>Every stored sample of <paramref name="model"/> gives the outputs computed when the model was generated.</summary>
    private static async Task AssertServesSamplesAsync(HttpClient http, string model)
    {
        var samples = Samples.Load(model);
        foreach (var sample in samples["samples"]!.AsArray())
        {
            var request = new JsonObject { ["inputs"] = sample!["inputs"]!.DeepClone() };
            using var response = await http.PostAsync($"/v2/models/{model}/infer", new StringContent(request.ToJsonString()));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, text);
            TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(text)!["outputs"]!.AsArray(), (double)sample["tolerance"]!);
        }
    }

    [Fact]
    public async Task AWrongSizedOrMissingTrustKey_FailsStartUp()
    {
        var rsa = Path.Combine(_keys, "p384.pem");
        using (var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384))
        {
            File.WriteAllText(rsa, p384.ExportSubjectPublicKeyInfoPem());
        }
        _repository.Add("simple");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--model-trust-key", rsa));
        Assert.Contains("P-256", error.Message, StringComparison.Ordinal);
    }

    private static void FlipByte(string path)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(path, bytes);
    }
}
