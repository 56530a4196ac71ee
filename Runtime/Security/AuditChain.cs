using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Fabrik.Security;

/// <summary>Checks an audit log's hash chain (<c>fabrik audit verify PATH</c>).</summary>
internal static class AuditChain
{
    private const string HashSuffixStart = ",\"hash\":\"";

    /// <summary>The outcome: intact, or the first broken file and line (1-based) and why.</summary>
    public readonly record struct Result(bool Intact, int Records, string? File, int BrokenLine, string? Reason);

    /// <summary>Checks the log at <paramref name="path"/> together with its rotated files
    /// (PATH.1, PATH.2, ... oldest first, then PATH): every record's own hash, and its link to the
    /// record before, across the files. A file given on its own that starts with a
    /// <c>log-continued</c> record is checked from that record on.</summary>
    public static Result Verify(string path)
    {
        var files = new List<string>();
        for (var number = 1; File.Exists($"{path}.{number}"); number++)
        {
            files.Add($"{path}.{number}");
        }
        files.Add(path);
        string? previous = null;
        var records = 0;
        foreach (var file in files)
        {
            var number = 0;
            foreach (var line in File.ReadLines(file))
            {
                number++;
                Result Broken(string reason) => new(false, records, file, number, reason);
                var hash = HashField(line);
                if (hash is null)
                {
                    return Broken("not an audit record");
                }
                var body = line[..line.LastIndexOf(HashSuffixStart, StringComparison.Ordinal)] + "}";
                if (!string.Equals(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body))), hash, StringComparison.Ordinal))
                {
                    return Broken("the record was changed (its hash does not match its text)");
                }
                string? prev, eventName;
                try
                {
                    using var document = JsonDocument.Parse(body);
                    prev = document.RootElement.TryGetProperty("prev", out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
                    eventName = document.RootElement.TryGetProperty("event", out var name) && name.ValueKind == JsonValueKind.String ? name.GetString() : null;
                }
                catch (JsonException)
                {
                    return Broken("not valid JSON");
                }
                // The first record of the whole series starts a chain, or continues a file not given.
                var expected = previous ?? (eventName == AuditLog.ContinuedEvent ? prev : AuditLog.Genesis);
                if (!string.Equals(prev, expected, StringComparison.Ordinal))
                {
                    return Broken(previous is null
                        ? "the first record does not start a chain (records before it are missing)"
                        : "the record does not follow the one before it (a record was deleted, inserted or moved)");
                }
                previous = hash;
                records++;
            }
        }
        return new Result(true, records, null, 0, null);
    }

    /// <summary>The record's <c>hash</c> (its last field), or null when the line does not end with one.</summary>
    public static string? HashField(string line)
    {
        var start = line.LastIndexOf(HashSuffixStart, StringComparison.Ordinal);
        if (start < 0 || !line.EndsWith("\"}", StringComparison.Ordinal))
        {
            return null;
        }
        var hash = line[(start + HashSuffixStart.Length)..^2];
        return hash.Length == 64 && hash.All(Uri.IsHexDigit) ? hash : null;
    }
}
