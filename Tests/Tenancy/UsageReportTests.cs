using System.Text.Json.Nodes;
using Fabrik.Hosting.Commands;
using Fabrik.Security;
using Xunit;

namespace Fabrik.Tests.Tenancy;

/// <summary>
/// <c>fabrik usage report</c>: the records whose period starts in [--from, --to) summed per tenant
/// and model, in CSV and JSON, over several files; records outside the window and other events
/// left out. The records are written with the audit log's writer, as the server writes them.
/// </summary>
public sealed class UsageReportTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("fabrik-usage-report-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static readonly (string Day, string Tenant, string Model, long Requests, long Rows, long Failures, long Compute)[] Records =
    [
        ("2026-11-30T23:59:00", "acme", "simple", 100, 100, 1, 5000),   // before the window
        ("2026-12-01T00:00:00", "acme", "simple", 10, 20, 0, 300),
        ("2026-12-01T00:01:00", "acme", "simple", 5, 5, 2, 150),
        ("2026-12-01T00:01:00", "acme", "mlp", 7, 70, 0, 900),
        ("2026-12-15T12:00:00", "research", "simple", 3, 24, 0, 80),
        ("2026-12-31T23:59:00", "undeclared", "mlp", 1, 1, 1, 10),
        ("2027-01-01T00:00:00", "research", "simple", 1000, 1000, 0, 1),  // after it
    ];

    private string WriteFile(string name, IEnumerable<(string Day, string Tenant, string Model, long Requests, long Rows, long Failures, long Compute)> records)
    {
        var path = Path.Combine(_folder, name);
        using var log = new AuditLog(path);
        log.Write("usage-start");
        foreach (var (day, tenant, model, requests, rows, failures, compute) in records)
        {
            var from = DateTime.Parse(day, System.Globalization.CultureInfo.InvariantCulture);
            log.Write("usage", ("from", day + "Z"), ("to", from.AddMinutes(1).ToString("s", System.Globalization.CultureInfo.InvariantCulture) + "Z"),
                ("tenant", tenant), ("model", model), ("requests", requests), ("rows", rows), ("failures", failures),
                ("compute_us", compute), ("bytes_in", requests * 100), ("bytes_out", requests * 10));
        }
        log.Write("usage-stop");
        return path;
    }

    private (int Code, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = UsageCommands.TryRun(["usage", "report", .. args], output, error)!.Value;
        return (code, output + error.ToString());
    }

    [Fact]
    public void Report_SumsPerTenantAndModel_InCsvAndJson_OverTheWindowOnly()
    {
        var first = WriteFile("november.jsonl", Records.Take(4));
        var second = WriteFile("december.jsonl", Records.Skip(4));

        var (code, csv) = Run(first, second, "--from", "2026-12-01", "--to", "2027-01-01", "--format", "csv");
        Assert.Equal(0, code);
        Assert.Equal(
            [
                "tenant,model,requests,rows,failures,compute_us,bytes_in,bytes_out",
                "acme,mlp,7,70,0,900,700,70",
                "acme,simple,15,25,2,450,1500,150",
                "research,simple,3,24,0,80,300,30",
                "undeclared,mlp,1,1,1,10,100,10",
            ],
            csv.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

        var (jsonCode, json) = Run(first, second, "--from", "2026-12-01T00:00:00Z", "--to", "2026-12-02T00:00:00Z", "--format", "json");
        Assert.Equal(0, jsonCode);
        var report = JsonNode.Parse(json)!;
        Assert.Equal(3, (int)report["records"]!);
        var usage = report["usage"]!.AsArray();
        Assert.Equal(["acme/mlp", "acme/simple"], usage.Select(row => $"{row!["tenant"]}/{row["model"]}"));
        Assert.Equal(15, (long)usage[1]!["requests"]!);
        Assert.Equal(450, (long)usage[1]!["compute_us"]!);

        // Without a window, everything.
        var (_, everything) = Run(first, second);
        Assert.Contains("research,simple,1003,1024,0,81,100300,10030", everything, StringComparison.Ordinal);
    }

    [Fact]
    public void Report_RefusesAFileThatDoesNotVerify_AndABadCommandLine()
    {
        var path = WriteFile("usage.jsonl", Records);
        var lines = File.ReadAllLines(path);
        File.WriteAllLines(path, lines.Where((_, index) => index != 2));
        var (code, output) = Run(path);
        Assert.Equal(1, code);
        Assert.Contains("does not follow", output, StringComparison.Ordinal);
        Assert.Equal(2, Run(path, "--format", "xml").Code);
        Assert.Equal(2, Run(path, "--from", "yesterday").Code);
    }
}
