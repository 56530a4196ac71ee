using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Fabrik.Observability.Tracing;

/// <summary>
/// Triton's trace mode (<c>--trace-config mode=triton</c>, <c>triton,file=PATH</c>): traced
/// requests written to a JSON file as Triton writes them. Each trace is a record naming its model
/// and version, then one record per timestamp (REQUEST_START, QUEUE_START, COMPUTE_START,
/// COMPUTE_INPUT_END, COMPUTE_OUTPUT_START, COMPUTE_END, REQUEST_END), in nanoseconds of the
/// monotonic clock as Triton's are. The file is one JSON array: it is opened (and emptied) at
/// start-up, each trace is appended when its request ends, and the array is closed at shutdown.
/// </summary>
/// <remarks>The path comes from the command line only. Thread-safe: writes serialize on a lock;
/// only traced requests take it.</remarks>
internal sealed class TritonTraceFile : IDisposable
{
    private static readonly double NanosecondsPerTick = 1e9 / Stopwatch.Frequency;
    private readonly Lock _gate = new();
    private readonly FileStream _file;
    private readonly Utf8JsonWriter _json;
    private long _traces;
    private bool _disposed;

    private TritonTraceFile(FileStream file)
    {
        _file = file;
        _json = new Utf8JsonWriter(file);
        _json.WriteStartArray();
        _json.Flush();
    }

    /// <summary>Creates (or empties) the trace file.</summary>
    /// <exception cref="InvalidOperationException">It cannot be written; the message says why.</exception>
    public static TritonTraceFile Open(string path)
    {
        try
        {
            return new TritonTraceFile(new FileStream(Path.GetFullPath(path), FileMode.Create, FileAccess.Write, FileShare.Read));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InvalidOperationException($"--trace-config triton,file={path}: cannot write the trace file ({e.Message})", e);
        }
    }

    /// <summary>The Stopwatch timestamp as Triton's nanoseconds.</summary>
    public static long Nanoseconds(long stopwatchTimestamp) => (long)(stopwatchTimestamp * NanosecondsPerTick);

    /// <summary>Appends one trace: its model and version, then its timestamps in the order given.</summary>
    /// <param name="model">The model's name.</param>
    /// <param name="version">The version that served it.</param>
    /// <param name="timestamps">Names and Stopwatch timestamps.</param>
    public void Write(string model, string version, ReadOnlySpan<(string Name, long Timestamp)> timestamps)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            var id = ++_traces;
            _json.WriteStartObject();
            _json.WriteNumber("id"u8, id);
            _json.WriteString("model_name"u8, model);
            if (long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                _json.WriteNumber("model_version"u8, number);
            }
            _json.WriteEndObject();
            foreach (var (name, timestamp) in timestamps)
            {
                _json.WriteStartObject();
                _json.WriteNumber("id"u8, id);
                _json.WriteStartArray("timestamps"u8);
                _json.WriteStartObject();
                _json.WriteString("name"u8, name);
                _json.WriteNumber("ns"u8, Nanoseconds(timestamp));
                _json.WriteEndObject();
                _json.WriteEndArray();
                _json.WriteEndObject();
            }
            // Whole traces reach the file as they end, so it can be followed while the server runs.
            _json.Flush();
        }
    }

    /// <summary>Closes the array and the file.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _json.WriteEndArray();
            _json.Dispose();
            _file.Dispose();
        }
    }
}
