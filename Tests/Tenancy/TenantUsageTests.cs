using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Fabrik.Hosting.Commands;
using Fabrik.Protocol.Triton;
using Google.Protobuf;
using Grpc.Core;
using Xunit;

namespace Fabrik.Tests.Tenancy;

/// <summary>
/// What the tenants used, as the operator sees it: the usage records add up to the statistics
/// extension's totals and verify, and a record removed or edited is found; a tenant reads only its
/// own usage.
/// </summary>
public sealed class TenantUsageTests
{
    private const string AcmeKey = "acme-0d9c4e1b7f";
    private const string LabKey = "lab-5e2a8c6f30";
    private const string LoneKey = "lone-9b1f3d7e52";
    internal const string AdminKey = "admin-4f7a0c2e9d";

    internal static readonly string Keys = TenantHost.KeyFile(
        [("acme-ci", AcmeKey, "acme", ["infer:*"]), ("lab", LabKey, "research", ["infer:*"]), ("lone", LoneKey, null, ["infer:*"]), ("ops", AdminKey, null, ["admin"])],
        new JsonObject { ["name"] = "acme", ["requests_per_second"] = 1000, ["burst"] = 1000 }, new JsonObject { ["name"] = "research", ["weight"] = 2 });

    internal static TemporaryRepository Repository() => new TemporaryRepository().Add("simple").Add("mlp");

    /// <summary>Traffic from three tenants over HTTP and gRPC, with failures, on two models.
    /// Returns the requests each tenant sent to simple, for the tests to check against.</summary>
    internal static async Task SendTrafficAsync(TenantHost host)
    {
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await host.InferAsync(AcmeKey, rows: 1 + (i % 3))).StatusCode);
        }
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await host.InferAsync(LabKey, rows: 4)).StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await host.InferAsync(LoneKey, rows: 2)).StatusCode);
        // Failures: inputs that do not fit the model (simple's body sent to mlp).
        Assert.Equal(HttpStatusCode.BadRequest, (await host.InferAsync(AcmeKey, model: "mlp")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await host.InferAsync(LabKey, model: "mlp")).StatusCode);

        using var channel = host.Server.CreateGrpcChannel();
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var message = new ModelInferRequest { ModelName = "mlp" };
        message.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "INPUT0", Datatype = "FP32", Shape = { 3, 16 } });
        message.RawInputContents.Add(ByteString.CopyFrom(new byte[3 * 16 * 4]));
        for (var i = 0; i < 2; i++)
        {
            await grpc.ModelInferAsync(message, new Metadata { { "authorization", "Bearer " + LabKey } });
        }
    }

    private static async Task<JsonNode> StatisticsAsync(TenantHost host, string model)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/models/{model}/stats");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        using var response = await host.Http.SendAsync(request);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["model_stats"]![0]!;
    }

    [Fact]
    public async Task UsageRecords_AddUpToTheStatistics_Verify_AndARemovedOrEditedRecordIsFound()
    {
        await using var host = await TenantHost.StartAsync(Repository(), Keys, null, "--usage-log", "{folder}/usage.jsonl");
        await SendTrafficAsync(host);
        var statistics = new Dictionary<string, JsonNode>();
        foreach (var model in new[] { "simple", "mlp" })
        {
            statistics[model] = await StatisticsAsync(host, model);
        }
        await host.Server.DisposeAsync(); // the last period is written at stop
        var path = Path.Combine(host.Folder, "usage.jsonl");
        var records = File.ReadAllLines(path).Select(line => JsonNode.Parse(line)!).Where(record => (string?)record["event"] == "usage").ToList();

        foreach (var (model, stats) in statistics)
        {
            var mine = records.Where(record => (string?)record["model"] == model).ToList();
            long Sum(string field) => mine.Sum(record => (long)record[field]!);
            Assert.Equal((long)stats["inference_stats"]!["success"]!["count"]!, Sum("requests"));
            Assert.Equal((long)stats["inference_stats"]!["fail"]!["count"]!, Sum("failures"));
            Assert.Equal((long)stats["inference_count"]!, Sum("rows"));
        }
        // Independently of the statistics: what the traffic sent.
        Assert.Equal(1 + 2 + 3 + 1 + 2, Total(records, "acme", "simple", "rows"));
        Assert.Equal(12, Total(records, "research", "simple", "rows"));
        Assert.Equal(6, Total(records, "research", "mlp", "rows"));
        Assert.Equal(1, Total(records, "research", "mlp", "failures"));
        Assert.Equal(2, Total(records, "undeclared", "simple", "rows"));
        Assert.True(Total(records, "acme", "simple", "compute_us") > 0);
        Assert.True(Total(records, "acme", "simple", "bytes_in") > 0 && Total(records, "acme", "simple", "bytes_out") > 0);

        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(0, UsageCommands.TryRun(["usage", "verify", path], output, error));
        Assert.Contains("intact", output.ToString(), StringComparison.Ordinal);

        // An edited record fails its own hash; a removed one breaks the link of the next.
        var lines = File.ReadAllLines(path);
        var usageLine = Array.FindIndex(lines, line => line.Contains("\"event\":\"usage\"", StringComparison.Ordinal));
        var edited = (string[])lines.Clone();
        edited[usageLine] = edited[usageLine].Replace("\"requests\":", "\"requests\":1", StringComparison.Ordinal);
        File.WriteAllLines(path, edited);
        Assert.Equal(1, UsageCommands.TryRun(["usage", "verify", path], output, error));
        Assert.Contains($"line {usageLine + 1}: the record was changed", error.ToString(), StringComparison.Ordinal);
        File.WriteAllLines(path, lines.Where((_, index) => index != usageLine));
        Assert.Equal(1, UsageCommands.TryRun(["usage", "verify", path], output, error));
        Assert.Contains($"line {usageLine + 1}: the record does not follow", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, UsageCommands.TryRun(["usage", "report", path], output, error));
    }

    private static long Total(List<JsonNode> records, string tenant, string model, string field) =>
        records.Where(record => (string?)record["tenant"] == tenant && (string?)record["model"] == model).Sum(record => (long)record[field]!);

    [Fact]
    public async Task UsageEndpoint_ShowsATenantOnlyItsOwnUsage_AndAnAdminEveryTenant()
    {
        await using var host = await TenantHost.StartAsync(Repository(), Keys);
        await SendTrafficAsync(host);

        var acme = await UsageAsync(host, AcmeKey);
        Assert.Equal(["acme"], acme.Select(tenant => (string)tenant!["name"]!));
        Assert.Equal(5, (long)acme[0]!["models"]!.AsArray().Single(model => (string?)model!["model"] == "simple")!["requests"]!);

        var lab = await UsageAsync(host, LabKey);
        Assert.Equal(["research"], lab.Select(tenant => (string)tenant!["name"]!));
        Assert.DoesNotContain("acme", lab.ToJsonString(), StringComparison.Ordinal);

        // A key without a tenant sees its own requests only, not the other undeclared keys'.
        var lone = await UsageAsync(host, LoneKey);
        Assert.Equal(1, (long)lone.Single()!["models"]![0]!["requests"]!);

        var all = await UsageAsync(host, AdminKey);
        Assert.Equal(["acme", "research", "undeclared"], all.Select(tenant => (string)tenant!["name"]!));

        using var anonymous = await host.Http.GetAsync("/v2/tenants/usage");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    private static async Task<JsonArray> UsageAsync(TenantHost host, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/tenants/usage");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await host.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["tenants"]!.AsArray();
    }
}
