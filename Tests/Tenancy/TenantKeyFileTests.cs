using System.Text.Json.Nodes;
using Fabrik.Security.Access;
using Fabrik.Tenancy;
using Xunit;

namespace Fabrik.Tests.Tenancy;

/// <summary>
/// The key file's <c>tenants</c> section: what it accepts, the errors that name the entry (never
/// the key material), each key's tenant, and admission without allocation.
/// </summary>
public sealed class TenantKeyFileTests
{
    private const string Key = "secret-key-6f1e2d";

    private static string File(JsonObject tenant, string? keyTenant = "acme", string keyId = "ci") =>
        TenantHost.KeyFile([(keyId, Key, keyTenant, ["infer:*"])], tenant);

    [Theory]
    [InlineData("{\"name\": \"acme\", \"weight\": 0}", "tenant 'acme': \"weight\" must be an integer from 1 to 1000")]
    [InlineData("{\"name\": \"acme\", \"weight\": 1.5}", "\"weight\" must be an integer")]
    [InlineData("{\"name\": \"acme\", \"requests_per_second\": 0}", "\"requests_per_second\" must be a number above 0")]
    [InlineData("{\"name\": \"acme\", \"burst\": 5}", "\"burst\" needs \"requests_per_second\"")]
    [InlineData("{\"name\": \"acme\", \"max_queued\": 5}", "\"max_queued\" needs \"max_in_flight\"")]
    [InlineData("{\"name\": \"acme\", \"max_inflight\": 5}", "unknown field 'max_inflight'")]
    [InlineData("{\"name\": \"a b\"}", "tenants[0]: a name is 1 to 64")]
    [InlineData("{\"name\": \"undeclared\"}", "'undeclared' is the name keys without a tenant")]
    public void BadTenantEntries_AreRefused_NamingTheEntry(string tenant, string message)
    {
        var error = Assert.Throws<FormatException>(() => ApiKeyFile.Parse(File(JsonNode.Parse(tenant)!.AsObject(), keyTenant: null)));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeysNamingAnUndeclaredTenant_OrTakingATenantsName_AreRefused_WithoutTheirKeyMaterial()
    {
        var text = File(new JsonObject { ["name"] = "acme" }, keyTenant: "nobody");
        var error = Assert.Throws<FormatException>(() => ApiKeyFile.Parse(text));
        Assert.Equal("key 'ci' names tenant 'nobody', which the file's \"tenants\" section does not declare", error.Message);
        var hash = (string)JsonNode.Parse(text)!["keys"]![0]!["sha256"]!;
        Assert.DoesNotContain(hash, error.Message, StringComparison.Ordinal);

        var clash = Assert.Throws<FormatException>(() => ApiKeyFile.Parse(File(new JsonObject { ["name"] = "acme" }, keyTenant: null, keyId: "acme")));
        Assert.Contains("key 'acme' names no tenant", clash.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EachKeyGetsItsTenant_AKeyWithoutOneItsOwn_AndWithoutATenantsSectionNone()
    {
        var registry = new TenantRegistry(TimeProvider.System);
        var text = TenantHost.KeyFile([("ci", Key, "acme", ["infer:*"]), ("lone", "other-key", null, ["infer:*"])],
            new JsonObject { ["name"] = "acme", ["weight"] = 5, ["max_in_flight"] = 3 });
        var file = ApiKeyFile.Parse(text).BindTenants(registry);
        var acme = file.Keys[0].Tenant!;
        Assert.Equal(("acme", 5, true, 3), (acme.Name, acme.Weight, acme.Declared, acme.Limits.MaxInFlight));
        var lone = file.Keys[1].Tenant!;
        Assert.Equal(("lone", 1, false, Tenant.UndeclaredLabel), (lone.Name, lone.Weight, lone.Declared, lone.Label));
        // The same instances after a reload.
        var again = ApiKeyFile.Parse(text).BindTenants(registry);
        Assert.Same(acme, again.Keys[0].Tenant);
        Assert.Same(lone, again.Keys[1].Tenant);

        // A client certificate's subject names its tenant as a key does.
        var certificates = ApiKeyFile.Parse("""
            {"keys": [{"id": "lab", "subject": "CN=lab, O=University", "scopes": ["infer:*"], "tenant": "research"}],
             "tenants": [{"name": "research", "weight": 3}]}
            """).BindTenants(registry);
        Assert.Equal(("research", 3), (certificates.FindBySubject("CN=lab,O=University")!.Tenant!.Name, certificates.FindBySubject("CN=lab,O=University")!.Tenant!.Weight));

        var plain = ApiKeyFile.Parse(TenantHost.KeyFile([("ci", Key, null, ["infer:*"])])).BindTenants(new TenantRegistry(TimeProvider.System));
        Assert.Null(plain.Keys[0].Tenant);
    }

    [Fact]
    public async Task Admission_AllocatesNothing_WithQuotasOrWithout()
    {
        var limited = new Tenant("acme", declared: true, TimeProvider.System);
        limited.Apply(1, new TenantLimits(1e6, 1_000_000, 1000, 10, 1_000_000));
        var open = new Tenant("lone", declared: false, TimeProvider.System);
        foreach (var tenant in new[] { limited, open })
        {
            for (var i = 0; i < 100; i++)
            {
                Assert.Null(await tenant.EnterAsync(CancellationToken.None));
                tenant.Exit();
                tenant.ChargeCompute("simple", 1, 1);
            }
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 10_000; i++)
            {
                var admission = tenant.EnterAsync(CancellationToken.None);
                Assert.True(admission.IsCompletedSuccessfully);
                Assert.Null(await admission);
                tenant.Exit();
                tenant.ChargeCompute("simple", 1, 1);
            }
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.Equal(0, tenant.InFlight);
        }
    }
}
