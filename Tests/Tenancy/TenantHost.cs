using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Tenancy;

namespace Fabrik.Tests.Tenancy;

/// <summary>
/// A server in memory with a key file that declares tenants: the file's text, the server's
/// start (the key file re-read on every request, the failed-key limit out of the way), and an
/// inference of <c>simple</c> under a key.
/// </summary>
internal sealed class TenantHost : IAsyncDisposable
{
    private TenantHost(TemporaryRepository repository, string folder, InMemoryFabrik server)
    {
        Repository = repository;
        Folder = folder;
        Server = server;
        Http = server.CreateHttpClient();
    }

    public TemporaryRepository Repository { get; }

    public string Folder { get; }

    public string KeyFilePath => Path.Combine(Folder, "keys.json");

    public InMemoryFabrik Server { get; }

    public HttpClient Http { get; }

    public TenantRegistry Tenants => (TenantRegistry)Server.Server.Services.GetService(typeof(TenantRegistry))!;

    /// <summary>Starts a server over <paramref name="repository"/> with <paramref name="keyFile"/>;
    /// <c>{folder}</c> in a flag is the host's own temporary folder.</summary>
    public static async Task<TenantHost> StartAsync(TemporaryRepository repository, string keyFile, TimeProvider? time = null, params string[] flags)
    {
        var folder = Directory.CreateTempSubdirectory("fabrik-tenants-").FullName;
        File.WriteAllText(Path.Combine(folder, "keys.json"), keyFile);
        var options = ServerOptions.Parse(["--model-repository", repository.Path, "--auth-keys", Path.Combine(folder, "keys.json"),
            .. flags.Select(flag => flag.Replace("{folder}", folder, StringComparison.Ordinal))]);
        var server = await InMemoryFabrik.StartAsync(options with
        {
            Security = options.Security with { AuthReloadCheckInterval = TimeSpan.Zero, AuthFailuresPerMinute = 1_000_000 },
        }, time);
        return new TenantHost(repository, folder, server);
    }

    /// <summary>Replaces the key file; the server reads it at its next request.</summary>
    public void RewriteKeys(string keyFile, int generation)
    {
        File.WriteAllText(KeyFilePath, keyFile);
        File.SetLastWriteTimeUtc(KeyFilePath, DateTime.UtcNow.AddSeconds(10 * generation));
    }

    /// <summary>The key file: <c>keys</c> (id, key, tenant or null, scopes) and <c>tenants</c>.</summary>
    public static string KeyFile(IEnumerable<(string Id, string Key, string? Tenant, string[] Scopes)> keys, params JsonObject[] tenants)
    {
        var file = new JsonObject
        {
            ["keys"] = new JsonArray([.. keys.Select(key =>
            {
                var entry = new JsonObject
                {
                    ["id"] = key.Id,
                    ["sha256"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.Key))),
                    ["scopes"] = new JsonArray([.. key.Scopes.Select(scope => (JsonNode)scope)]),
                };
                if (key.Tenant is not null)
                {
                    entry["tenant"] = key.Tenant;
                }
                return (JsonNode)entry;
            })]),
        };
        if (tenants.Length > 0)
        {
            file["tenants"] = new JsonArray([.. tenants]);
        }
        return file.ToJsonString();
    }

    /// <summary>One inference of <c>simple</c> (its first sample, <paramref name="rows"/> rows) under <paramref name="key"/>.</summary>
    public async Task<HttpResponseMessage> InferAsync(string key, int rows = 1, string model = "simple")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{model}/infer") { Content = new StringContent(Body(rows), Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return await Http.SendAsync(request);
    }

    /// <summary>A request body for <c>simple</c> with <paramref name="rows"/> rows.</summary>
    public static string Body(int rows)
    {
        var inputs = new JsonArray();
        foreach (var name in new[] { "INPUT0", "INPUT1" })
        {
            inputs.Add(new JsonObject
            {
                ["name"] = name,
                ["datatype"] = "INT32",
                ["shape"] = new JsonArray(rows, 16),
                ["data"] = new JsonArray([.. Enumerable.Range(0, rows * 16).Select(i => (JsonNode)i)]),
            });
        }
        return new JsonObject { ["inputs"] = inputs }.ToJsonString();
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Repository.Dispose();
        Directory.Delete(Folder, recursive: true);
    }
}
