using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Fabrik.Security;

/// <summary>
/// The --audit-log file: JSON Lines, one record per event, each chained to the one before.
/// A record is written as <c>{"time":...,"event":...,&lt;fields&gt;,"prev":"&lt;hash of the previous
/// record&gt;","hash":"&lt;SHA-256 of this record's text up to and including prev, closed with }&gt;"}</c>,
/// so an edited line fails its own hash and a deleted, inserted or moved line breaks the
/// <c>prev</c> link of the line after it (<see cref="AuditChain.Verify"/>). Appending to an
/// existing file continues its chain. Writes are serialized by a lock; security events are
/// flushed to the operating system before the caller answers its request.
/// </summary>
internal sealed class AuditLog : IDisposable
{
    /// <summary>The <c>prev</c> of a log's first record.</summary>
    public const string Genesis = "0000000000000000000000000000000000000000000000000000000000000000";

    private readonly Lock _gate = new();
    private readonly FileStream? _file;
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly TimeProvider _time;
    private string _previous;

    /// <summary>Opens (creating or appending to) the log at <paramref name="path"/>; with no
    /// path the log is off and writes do nothing.</summary>
    /// <exception cref="IOException">The file cannot be opened.</exception>
    public AuditLog(string? path, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _previous = Genesis;
        if (path is not null)
        {
            Path = System.IO.Path.GetFullPath(path);
            _previous = LastHash(Path);
            _file = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read, 4096);
        }
    }

    /// <summary>The log's full path; null when auditing is off.</summary>
    public string? Path { get; }

    /// <summary>Whether records are written.</summary>
    public bool Enabled => _file is not null;

    /// <summary>Appends a record and flushes it to the operating system before returning.</summary>
    public void Write(string eventName, params ReadOnlySpan<(string Name, object? Value)> fields) => Append(eventName, fields, flush: true);

    /// <summary>Appends a record left in the file's buffer (inference records: they reach the
    /// file with the next security event, within 4 KiB, or at stop).</summary>
    public void WriteBuffered(string eventName, params ReadOnlySpan<(string Name, object? Value)> fields) => Append(eventName, fields, flush: false);

    private void Append(string eventName, ReadOnlySpan<(string Name, object? Value)> fields, bool flush)
    {
        if (_file is null)
        {
            return;
        }
        lock (_gate)
        {
            _buffer.ResetWrittenCount();
            using (var json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                json.WriteStartObject();
                json.WriteString("time", _time.GetUtcNow().UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
                json.WriteString("event", eventName);
                foreach (var (name, value) in fields)
                {
                    WriteValue(json, name, value);
                }
                json.WriteString("prev", _previous);
                json.WriteEndObject();
            }
            var body = _buffer.WrittenSpan;
            var hash = Convert.ToHexStringLower(SHA256.HashData(body));
            _file.Write(body[..^1]);
            _file.Write(Encoding.UTF8.GetBytes($",\"hash\":\"{hash}\"}}\n"));
            if (flush)
            {
                _file.Flush();
            }
            _previous = hash;
        }
    }

    private static void WriteValue(Utf8JsonWriter json, string name, object? value)
    {
        switch (value)
        {
            case null:
                json.WriteNull(name);
                break;
            case string text:
                json.WriteString(name, text);
                break;
            case bool flag:
                json.WriteBoolean(name, flag);
                break;
            case int or long or double:
                json.WriteNumber(name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
            case IEnumerable<KeyValuePair<string, string>> map:
                json.WriteStartObject(name);
                foreach (var (key, item) in map)
                {
                    json.WriteString(key, item);
                }
                json.WriteEndObject();
                break;
            case IEnumerable<string> list:
                json.WriteStartArray(name);
                foreach (var item in list)
                {
                    json.WriteStringValue(item);
                }
                json.WriteEndArray();
                break;
            default:
                json.WriteString(name, value.ToString());
                break;
        }
    }

    /// <summary>The hash of the file's last record, or <see cref="Genesis"/> for a new file.</summary>
    private static string LastHash(string path)
    {
        if (!File.Exists(path))
        {
            return Genesis;
        }
        string? last = null;
        foreach (var line in File.ReadLines(path))
        {
            if (line.Length > 0)
            {
                last = line;
            }
        }
        return last is null ? Genesis : AuditChain.HashField(last)
            ?? throw new IOException($"the audit log {path} ends with a line that is not an audit record; move it aside or repair it");
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _file?.Flush();
            _file?.Dispose();
        }
    }
}

/// <summary>Checks an audit log's hash chain (<c>fabrik audit verify PATH</c>).</summary>
internal static class AuditChain
{
    private const string HashSuffixStart = ",\"hash\":\"";

    /// <summary>The outcome: intact, or the first broken line (1-based) and why.</summary>
    public readonly record struct Result(bool Intact, int Records, int BrokenLine, string? Reason);

    /// <summary>Reads the log and checks every record's own hash and its link to the record before.</summary>
    public static Result Verify(string path)
    {
        var previous = AuditLog.Genesis;
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            var hash = HashField(line);
            if (hash is null)
            {
                return new Result(false, number - 1, number, "not an audit record");
            }
            var body = line[..line.LastIndexOf(HashSuffixStart, StringComparison.Ordinal)] + "}";
            if (!string.Equals(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body))), hash, StringComparison.Ordinal))
            {
                return new Result(false, number - 1, number, "the record was changed (its hash does not match its text)");
            }
            string? prev;
            try
            {
                using var document = JsonDocument.Parse(body);
                prev = document.RootElement.TryGetProperty("prev", out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
            }
            catch (JsonException)
            {
                return new Result(false, number - 1, number, "not valid JSON");
            }
            if (!string.Equals(prev, previous, StringComparison.Ordinal))
            {
                return new Result(false, number - 1, number, number == 1
                    ? "the first record does not start a chain (records before it are missing)"
                    : "the record does not follow the one before it (a record was deleted, inserted or moved)");
            }
            previous = hash;
        }
        return new Result(true, number, 0, null);
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
