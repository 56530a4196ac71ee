using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Fabrik.Security;

/// <summary>Checks an audit log's hash chain (<c>fabrik audit verify PATH</c>).</summary>
internal static class AuditChain
{
    private const string HashSuffixStart = ",\"hash\":\"";

    /// <summary>The outcome: intact, or the first broken file and line (1-based) and why.</summary>
    public readonly record struct Result(bool Intact, int Records, string? File, int BrokenLine, string? Reason)
    {
        /// <summary>Where the chain was verified from when its first record continues records
        /// that are not there (a file given on its own, or the first file retention kept); null
        /// when it starts at the log's first record.</summary>
        public string? StartFile { get; init; }

        /// <summary>The file whose deletion by retention the log records, just before
        /// <see cref="StartFile"/>; null when no record accounts for the missing records.</summary>
        public string? DeletedByRetention { get; init; }
    }

    /// <summary>
    /// Checks the log at <paramref name="path"/> together with its rotated files (PATH.N, lowest
    /// N first, then PATH): every record's own hash, and its link to the record before, across the
    /// files, so a file missing between two kept ones breaks the chain. When the first record
    /// continues a file that is not there (a <c>log-continued</c> record), the chain is verified
    /// from that record on: if the log records deleting that file by retention
    /// (<c>log-retention</c> with its last hash), the result names it; if the log records
    /// retention but not of that file, records were removed behind its back and the chain is
    /// broken; with no retention records at all (a file checked on its own), it is intact from
    /// there and the result says where it started.
    /// </summary>
    public static Result Verify(string path)
    {
        var files = AuditLogFiles.Rotated(path).Select(file => file.Path).Append(path).ToList();
        string? previous = null;
        var records = 0;
        string? startFile = null, startPrev = null;
        var retained = new Dictionary<string, string>(StringComparer.Ordinal); // last hash -> deleted file
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
                    prev = Text(document.RootElement, "prev");
                    eventName = Text(document.RootElement, "event");
                    if (eventName == AuditLog.RetentionEvent && Text(document.RootElement, "last_hash") is { } lastHash)
                    {
                        retained[lastHash] = Text(document.RootElement, "file") ?? "";
                    }
                }
                catch (JsonException)
                {
                    return Broken("not valid JSON");
                }
                // The first record of the whole series starts a chain, or continues a file not here.
                if (previous is null && eventName == AuditLog.ContinuedEvent)
                {
                    (startFile, startPrev) = (file, prev);
                }
                var expected = previous ?? (startFile is null ? AuditLog.Genesis : prev);
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
        if (startFile is null)
        {
            return new Result(true, records, null, 0, null);
        }
        if (retained.TryGetValue(startPrev!, out var deleted))
        {
            return new Result(true, records, null, 0, null) { StartFile = startFile, DeletedByRetention = deleted };
        }
        return retained.Count > 0
            ? new Result(false, records, startFile, 1, "the records before this file are gone, and the log records no retention that deleted them (files were removed outside --audit-log-max-files)")
            : new Result(true, records, null, 0, null) { StartFile = startFile };
    }

    /// <summary>The <c>prev</c> of the first record in <paramref name="file"/> (the hash the file
    /// before it ended with), or null when it has none.</summary>
    public static string? FirstPrev(string file)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var line = reader.ReadLine();
        if (line is null || HashField(line) is null)
        {
            return null;
        }
        try
        {
            using var document = JsonDocument.Parse(line);
            return Text(document.RootElement, "prev");
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? Text(JsonElement record, string name) =>
        record.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

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
