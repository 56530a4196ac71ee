using System.Globalization;
using System.Text.Json;
using Fabrik.Security;
using Fabrik.Tenancy;

namespace Fabrik.Hosting.Commands;

/// <summary>
/// The usage sub-commands over --usage-log files: <c>fabrik usage verify FILES</c> checks each
/// file's hash chain (as <c>fabrik audit verify</c> does), and <c>fabrik usage report FILES
/// [--from TIME] [--to TIME] [--format csv|json]</c> verifies them, then sums the records whose
/// period starts in [from, to) per tenant and model. Exit 0 on success, 1 when a file fails its
/// check, 2 for a bad command line.
/// </summary>
internal static class UsageCommands
{
    private const string UsageText = "fabrik usage verify <usage log>... | fabrik usage report <usage log>... [--from TIME] [--to TIME] [--format csv|json]";

    /// <summary>Runs the command when <paramref name="args"/> is one of these; null otherwise.</summary>
    public static int? TryRun(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (args.Count == 0 || args[0] != "usage")
        {
            return null;
        }
        try
        {
            return args switch
            {
                ["usage", "verify", _, ..] => Verify(args.Skip(2).ToList(), output, error),
                ["usage", "report", _, ..] => Report(args.Skip(2).ToList(), output, error),
                _ => Fail(error, $"usage: {UsageText}", 2),
            };
        }
        catch (ArgumentException e)
        {
            return Fail(error, $"fabrik: {e.Message}", 2);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail(error, $"fabrik: {e.Message}", 1);
        }
    }

    private static int Fail(TextWriter error, string message, int code)
    {
        error.WriteLine(message);
        return code;
    }

    private static int Verify(List<string> files, TextWriter output, TextWriter error)
    {
        var broken = false;
        foreach (var file in files)
        {
            var result = AuditChain.Verify(file);
            if (result.Intact)
            {
                output.WriteLine($"{file}: intact, {result.Records} records");
            }
            else
            {
                error.WriteLine($"{result.File}: line {result.BrokenLine}: {result.Reason}");
                broken = true;
            }
        }
        return broken ? 1 : 0;
    }

    private static int Report(List<string> args, TextWriter output, TextWriter error)
    {
        DateTimeOffset? from = null, to = null;
        var format = "csv";
        var files = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--from":
                    from = Time("--from", Value());
                    break;
                case "--to":
                    to = Time("--to", Value());
                    break;
                case "--format":
                    format = Value() is "csv" or "json" ? args[i] : throw new ArgumentException("--format is csv or json");
                    break;
                default:
                    files.Add(args[i]);
                    break;
            }
        }
        var sums = new SortedDictionary<(string Tenant, string Model), UsageTotals>();
        var records = 0;
        foreach (var file in files)
        {
            var check = AuditChain.Verify(file);
            if (!check.Intact)
            {
                return Fail(error, $"{check.File}: line {check.BrokenLine}: {check.Reason}; no report from records that do not verify", 1);
            }
            foreach (var line in File.ReadLines(file))
            {
                using var record = JsonDocument.Parse(line);
                var root = record.RootElement;
                if (Text(root, "event") != "usage" || Text(root, "from") is not { } start
                    || !DateTimeOffset.TryParse(start, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var periodStart)
                    || (from is not null && periodStart < from) || (to is not null && periodStart >= to))
                {
                    continue;
                }
                var key = (Text(root, "tenant") ?? "", Text(root, "model") ?? "");
                sums[key] = sums.GetValueOrDefault(key) + new UsageTotals(Number(root, "requests"), Number(root, "rows"), Number(root, "failures"),
                    Number(root, "compute_us"), Number(root, "bytes_in"), Number(root, "bytes_out"));
                records++;
            }
        }
        if (format == "json")
        {
            WriteJson(output, sums, from, to, records);
        }
        else
        {
            output.WriteLine("tenant,model,requests,rows,failures,compute_us,bytes_in,bytes_out");
            foreach (var ((tenant, model), t) in sums)
            {
                output.WriteLine($"{Csv(tenant)},{Csv(model)},{t.Requests},{t.Rows},{t.Failures},{t.ComputeMicroseconds},{t.BytesIn},{t.BytesOut}");
            }
        }
        return 0;
    }

    private static void WriteJson(TextWriter output, SortedDictionary<(string Tenant, string Model), UsageTotals> sums, DateTimeOffset? from, DateTimeOffset? to, int records)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            WriteTime(json, "from", from);
            WriteTime(json, "to", to);
            json.WriteNumber("records", records);
            json.WriteStartArray("usage");
            foreach (var ((tenant, model), t) in sums)
            {
                json.WriteStartObject();
                json.WriteString("tenant", tenant);
                json.WriteString("model", model);
                json.WriteNumber("requests", t.Requests);
                json.WriteNumber("rows", t.Rows);
                json.WriteNumber("failures", t.Failures);
                json.WriteNumber("compute_us", t.ComputeMicroseconds);
                json.WriteNumber("bytes_in", t.BytesIn);
                json.WriteNumber("bytes_out", t.BytesOut);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }

    private static void WriteTime(Utf8JsonWriter json, string name, DateTimeOffset? time)
    {
        if (time is { } value)
        {
            json.WriteString(name, value.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static DateTimeOffset Time(string flag, string text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time
            : throw new ArgumentException($"{flag} takes a date or time such as 2026-12-01 or 2026-12-01T00:00:00Z, not '{text}'");

    private static string? Text(JsonElement record, string name) =>
        record.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long Number(JsonElement record, string name) =>
        record.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) ? (long)number : 0;

    private static string Csv(string field) =>
        field.AsSpan().IndexOfAny(",\"\n\r") < 0 ? field : "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
