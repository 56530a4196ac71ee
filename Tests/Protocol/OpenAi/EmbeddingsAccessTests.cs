using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Tests.Security;
using Xunit;

namespace Fabrik.Tests.Protocol.OpenAi;

/// <summary>
/// API keys on the OpenAI-compatible routes, on a real Kestrel listener with TLS: <c>infer:&lt;model&gt;</c>
/// grants embeddings of that model, <c>metadata</c> the model list; a refusal is OpenAI's error
/// object with 401 or 403; with --audit-inference each request leaves one audit record.
/// </summary>
public sealed class EmbeddingsAccessTests : IAsyncLifetime
{
    private const string EmbedKey = "embed-5d1c0e9a7b";
    private const string SimpleKey = "simple-8e2f4a6c1d";
    private const string ReaderKey = "reader-3b9d7f1e5a";

    private readonly TemporaryRepository _repository = new TemporaryRepository().Add(EmbeddingReference.Model).Add("simple");
    private readonly EmbeddingReference _reference = new();
    private readonly TestCertificates _pki = new();
    private string _folder = "";
    private FabrikServer? _server;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _folder = Directory.CreateTempSubdirectory("fabrik-openai-keys-").FullName;
        var keys = Path.Combine(_folder, "keys.json");
        File.WriteAllText(keys, AuthTests.KeyFile(("embed", EmbedKey, ["infer:embed*"]), ("simple", SimpleKey, ["infer:simple"]), ("reader", ReaderKey, ["metadata"])));
        var certificate = _pki.Issue("CN=fabrik-server", server: true, "server");
        var options = ServerOptions.Parse([
            "--model-repository", _repository.Path, "--http-port", "0", "--allow-grpc=false", "--allow-metrics=false",
            "--http-tls-cert", certificate.CertificatePath, "--http-tls-key", certificate.KeyPath,
            "--auth-keys", keys, "--audit-log", AuditPath, "--audit-inference=true"]);
        _server = await FabrikServer.StartAsync(options);
        Assert.Equal("https", _server.HttpAddress!.Scheme);
        _http = new HttpClient(_pki.Handler()) { BaseAddress = _server.HttpAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    private string AuditPath => Path.Combine(_folder, "audit.jsonl");

    public async Task DisposeAsync()
    {
        _http.Dispose();
        _reference.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
        _repository.Dispose();
        _pki.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task KeyWithTheModelsScope_GetsEmbeddings_OverTls_AndTheRequestIsAudited()
    {
        var sdk = new OpenAI.Embeddings.EmbeddingClient(EmbeddingReference.Model, new ApiKeyCredential(EmbedKey), EmbeddingHost.SdkOptions(_http));
        var collection = (await sdk.GenerateEmbeddingsAsync(EmbeddingsEndpointTests.Texts)).Value;
        for (var i = 0; i < EmbeddingsEndpointTests.Texts.Length; i++)
        {
            EmbeddingsEndpointTests.AssertClose(_reference.Embed(EmbeddingsEndpointTests.Texts[i]), collection[i].ToFloats().ToArray());
        }
        await _server!.DisposeAsync();
        var record = File.ReadLines(AuditPath).Select(line => JsonNode.Parse(line)!)
            .Single(line => (string?)line["event"] == "inference");
        Assert.Equal("openai", (string?)record["protocol"]);
        Assert.Equal("embedder", (string?)record["model"]);
        Assert.Equal("1", (string?)record["version"]);
        Assert.Equal("embed", (string?)record["caller"]);
        Assert.Equal(200, (int)record["status"]!);
        Assert.DoesNotContain("quick brown fox", File.ReadAllText(AuditPath), StringComparison.Ordinal);
        _server = null;
    }

    [Theory]
    [InlineData(null, HttpStatusCode.Unauthorized, "invalid_api_key")]
    [InlineData("not-a-key", HttpStatusCode.Unauthorized, "invalid_api_key")]
    [InlineData(SimpleKey, HttpStatusCode.Forbidden, "insufficient_permissions")]
    [InlineData(ReaderKey, HttpStatusCode.Forbidden, "insufficient_permissions")]
    public async Task KeyWithoutTheScope_IsRefused_InOpenAisShape(string? key, HttpStatusCode status, string code)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/embeddings")
        {
            Content = new StringContent("""{"model": "embedder", "input": "hello"}""", Encoding.UTF8, "application/json"),
        };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        using var response = await _http.SendAsync(request);
        Assert.Equal(status, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(code, (string?)error["code"]);
        Assert.Equal("invalid_request_error", (string?)error["type"]);
        Assert.False(string.IsNullOrEmpty((string?)error["message"]));

        if (key is not null)
        {
            var sdk = new OpenAI.Embeddings.EmbeddingClient(EmbeddingReference.Model, new ApiKeyCredential(key), EmbeddingHost.SdkOptions(_http));
            var refused = await Assert.ThrowsAsync<ClientResultException>(() => sdk.GenerateEmbeddingAsync("hello"));
            Assert.Equal((int)status, refused.Status);
        }
    }

    [Theory]
    [InlineData(ReaderKey, HttpStatusCode.OK)]
    [InlineData(EmbedKey, HttpStatusCode.Forbidden)]
    public async Task ModelList_NeedsTheMetadataScope(string key, HttpStatusCode status)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "v1/models") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", key) } };
        using var response = await _http.SendAsync(request);
        Assert.Equal(status, response.StatusCode);
    }
}
