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
    private readonly long _maxBytes;
    private readonly int _maxFiles;
    private FileStream? _file;
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly TimeProvider _time;
    private string _previous;
    // Refusals waiting to be summarised, by event, client and reason; under _gate, at most MaxPendingRefusals.
    private readonly Dictionary<string, PendingRefusal> _refusals = new(StringComparer.Ordinal);

    /// <summary>The most characters of a refused request's path (and verb) that a record keeps.</summary>
    public const int MaxRequestLength = 256;

    /// <summary>How long the repeats of one refusal (same event, client and reason) are counted
    /// before a summary record says how many there were.</summary>
    public static readonly TimeSpan RefusalWindow = TimeSpan.FromMinutes(1);

    /// <summary>The most refusal kinds counted at once; more (a flood from many addresses) writes
    /// the summaries out and starts counting afresh, so memory stays bounded.</summary>
    public const int MaxPendingRefusals = 1024;

    /// <summary>The event that starts a file after a rotation; its <c>prev</c> is the last hash of the file before.</summary>
    public const string ContinuedEvent = "log-continued";

    /// <summary>The event that records a rotated file deleted by retention: its name and the hash
    /// of its last record (which the next file's first record links to).</summary>
    public const string RetentionEvent = "log-retention";

    /// <summary>Opens (creating or appending to) the log at <paramref name="path"/>; with no
    /// path the log is off and writes do nothing.</summary>
    /// <param name="path">The log file.</param>
    /// <param name="maxBytes">Rotate when the file reaches this size (0: never): the file becomes
    /// PATH.1 (then .2, ...; always one past the highest there is) and a new PATH continues the chain.</param>
    /// <param name="time">The clock for the records' times.</param>
    /// <param name="maxFiles">Rotated files kept beside PATH (0: all): at each rotation the oldest
    /// beyond this many are deleted, each with a <see cref="RetentionEvent"/> record.</param>
    /// <exception cref="IOException">The file cannot be opened.</exception>
    public AuditLog(string? path, long maxBytes = 0, TimeProvider? time = null, int maxFiles = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxFiles);
        _time = time ?? TimeProvider.System;
        _maxBytes = maxBytes;
        _maxFiles = maxFiles;
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

    /// <summary>
    /// Records a refused request, bounded so that a flood of refusals cannot fill a disk: the
    /// request is cut to <see cref="MaxRequestLength"/> characters, and within
    /// <see cref="RefusalWindow"/> of a refusal written for the same event, client and reason, the
    /// repeats are only counted; the first refusal after the window (or the server's stop) writes
    /// one record for them with <c>"repeated": N</c> and the last request. Flushed like <see cref="Write"/>.
    /// </summary>
    public void WriteRefusal(string eventName, string client, string request, params ReadOnlySpan<(string Name, object? Value)> reason)
    {
        if (_file is null)
        {
            return;
        }
        request = Truncate(request);
        var key = RefusalKey(eventName, client, reason);
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (_refusals.TryGetValue(key, out var pending))
            {
                if (now - pending.Since < RefusalWindow)
                {
                    pending.Count++;
                    pending.LastRequest = request;
                    return;
                }
                _refusals.Remove(key);
                WriteRepeats(pending);
            }
            WriteExpiredRepeats(now);
            if (_refusals.Count >= MaxPendingRefusals)
            {
                WriteAllRepeats();
            }
            _refusals[key] = new PendingRefusal(eventName, client, reason.ToArray(), now);
            Append(eventName, [("client", client), ("request", request), .. reason], flush: true);
        }
    }

    /// <summary>The summary of one refusal's repeats, if there were any. Under the lock.</summary>
    private void WriteRepeats(PendingRefusal pending)
    {
        if (pending.Count > 0)
        {
            Append(pending.EventName, [("client", pending.Client), ("request", pending.LastRequest), .. pending.Reason,
                ("repeated", pending.Count), ("since", pending.Since.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture))], flush: true);
        }
    }

    /// <summary>Writes and forgets the refusals whose window has passed (on the written path
    /// only, so a counted repeat costs no scan). Under the lock.</summary>
    private void WriteExpiredRepeats(DateTimeOffset now)
    {
        List<string>? expired = null;
        foreach (var (key, pending) in _refusals)
        {
            if (now - pending.Since >= RefusalWindow)
            {
                (expired ??= []).Add(key);
            }
        }
        foreach (var key in expired ?? [])
        {
            WriteRepeats(_refusals[key]);
            _refusals.Remove(key);
        }
    }

    private void WriteAllRepeats()
    {
        foreach (var pending in _refusals.Values)
        {
            WriteRepeats(pending);
        }
        _refusals.Clear();
    }

    /// <summary>A request as the audit and the server log show it: cut to <see cref="MaxRequestLength"/>
    /// characters, so a flood of long paths cannot fill either.</summary>
    public static string Truncate(string request) =>
        request.Length <= MaxRequestLength ? request : string.Concat(request.AsSpan(0, MaxRequestLength), $"...(+{request.Length - MaxRequestLength})");

    private static string RefusalKey(string eventName, string client, ReadOnlySpan<(string Name, object? Value)> reason)
    {
        var key = new StringBuilder(eventName).Append('\n').Append(client);
        foreach (var (name, value) in reason)
        {
            key.Append('\n').Append(name).Append('=').Append(value);
        }
        return key.ToString();
    }

    private void Append(string eventName, ReadOnlySpan<(string Name, object? Value)> fields, bool flush)
    {
        if (_file is null)
        {
            return;
        }
        lock (_gate) // re-entered by Rotate's first record
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
            if (_maxBytes > 0 && _file.Length >= _maxBytes && eventName is not (ContinuedEvent or RetentionEvent))
            {
                Rotate();
            }
        }
    }

    /// <summary>Moves the full file aside as the next PATH.N, starts PATH with a record that
    /// links back to it, and applies the retention bound. Under the lock.</summary>
    private void Rotate()
    {
        _file!.Flush();
        _file.Dispose();
        var rotated = AuditLogFiles.Next(Path!);
        File.Move(Path!, rotated);
        _file = new FileStream(Path!, FileMode.Append, FileAccess.Write, FileShare.Read, 4096);
        Append(ContinuedEvent, [("previous_file", System.IO.Path.GetFileName(rotated))], flush: true);
        DeleteBeyondRetention();
    }

    /// <summary>Deletes the oldest rotated files beyond <see cref="_maxFiles"/>, oldest first, and
    /// records each deletion in the chain with the hash the deleted file ended with: verification
    /// then starts at the first kept record and can tell this from files removed behind the log's
    /// back. A file that cannot be deleted is recorded as such and tried again at the next
    /// rotation. Under the lock.</summary>
    private void DeleteBeyondRetention()
    {
        if (_maxFiles == 0)
        {
            return;
        }
        var rotated = AuditLogFiles.Rotated(Path!);
        for (var i = 0; i < rotated.Count - _maxFiles; i++)
        {
            var file = rotated[i].Path;
            var name = System.IO.Path.GetFileName(file);
            // The deleted file's last hash is the prev of the record that follows it.
            var lastHash = AuditChain.FirstPrev(i + 1 < rotated.Count ? rotated[i + 1].Path : Path!);
            try
            {
                File.Delete(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Append(RetentionEvent, [("file", name), ("deleted", false), ("reason", e.Message)], flush: true);
                continue;
            }
            Append(RetentionEvent, [("file", name), ("last_hash", lastHash)], flush: true);
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
            case int or long:
                // Written as the integer it is: a double would round byte sizes above 2^53.
                json.WriteNumber(name, Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
            case double number:
                json.WriteNumber(name, number);
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

    /// <summary>Repeats of one refusal counted since <see cref="Since"/> (when it was last
    /// written); owned by the log and changed under its lock.</summary>
    private sealed class PendingRefusal(string eventName, string client, (string Name, object? Value)[] reason, DateTimeOffset since)
    {
        public string EventName { get; } = eventName;

        public string Client { get; } = client;

        public (string Name, object? Value)[] Reason { get; } = reason;

        public DateTimeOffset Since { get; } = since;

        public long Count { get; set; }

        public string LastRequest { get; set; } = "";
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_file is not null)
            {
                WriteAllRepeats();
            }
            _file?.Flush();
            _file?.Dispose();
        }
    }
}
