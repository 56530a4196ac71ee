namespace Fabrik.Security;

/// <summary>
/// A value read from files (a certificate and its key, a key file) that is read again when a
/// file's modification time or length changes (the final target's, when the path is a symbolic
/// link, as in a Kubernetes Secret volume). Readers get the current value without locking;
/// the check runs at most once per <c>checkInterval</c>, on the reader's thread. A reload that
/// fails keeps the previous value and reports why, so a half-written file never takes down the
/// listener or the keys. The first load happens in the constructor and throws.
/// </summary>
internal sealed class ReloadingFile<T> where T : class
{
    private readonly string[] _paths;
    private readonly Func<T> _load;
    private readonly long _checkIntervalMs;
    private readonly Action<T>? _reloaded;
    private readonly Action<Exception>? _failed;
    private readonly Lock _gate = new();
    private volatile T _current;
    private (DateTime Written, long Length)[] _stamps;
    private long _nextCheck;

    /// <summary>Loads the value now.</summary>
    /// <param name="paths">The files the value is read from.</param>
    /// <param name="load">Reads them; throws on a bad file.</param>
    /// <param name="checkInterval">How often readers look at the files' times (zero: on every read).</param>
    /// <param name="reloaded">Told of each successful reload.</param>
    /// <param name="failed">Told of each failed reload (the previous value stays).</param>
    public ReloadingFile(string[] paths, Func<T> load, TimeSpan checkInterval, Action<T>? reloaded = null, Action<Exception>? failed = null)
    {
        _paths = paths;
        _load = load;
        _checkIntervalMs = (long)checkInterval.TotalMilliseconds;
        _reloaded = reloaded;
        _failed = failed;
        _stamps = Stamp();
        _current = load();
        _nextCheck = Environment.TickCount64 + _checkIntervalMs;
    }

    /// <summary>The value, reloaded first when a file changed since the last look.</summary>
    public T Current
    {
        get
        {
            if (Environment.TickCount64 >= Volatile.Read(ref _nextCheck))
            {
                CheckForChange();
            }
            return _current;
        }
    }

    private void CheckForChange()
    {
        // One reader looks; the others keep the current value rather than wait.
        if (!_gate.TryEnter())
        {
            return;
        }
        try
        {
            Volatile.Write(ref _nextCheck, Environment.TickCount64 + _checkIntervalMs);
            var stamps = Stamp();
            if (stamps.AsSpan().SequenceEqual(_stamps))
            {
                return;
            }
            // Stamped before reading: a write during the read shows up at the next look.
            _stamps = stamps;
            try
            {
                var value = _load();
                _current = value;
                _reloaded?.Invoke(value);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException
                or System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                _failed?.Invoke(e);
            }
        }
        finally
        {
            _gate.Exit();
        }
    }

    /// <summary>The time and length of the file the path leads to, read through an open handle:
    /// that follows every symbolic link on the way. A Kubernetes Secret or ConfigMap volume serves
    /// each file as a link through <c>..data</c>, which an update swaps to a new folder, so the
    /// link's own times never change. A file that cannot be opened stamps as missing.</summary>
    private static (DateTime, long) StampOf(string path)
    {
        try
        {
            using var handle = File.OpenHandle(path);
            return (File.GetLastWriteTimeUtc(handle), RandomAccess.GetLength(handle));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (DateTime.MinValue, -1);
        }
    }

    private (DateTime, long)[] Stamp()
    {
        var stamps = new (DateTime, long)[_paths.Length];
        for (var i = 0; i < _paths.Length; i++)
        {
            stamps[i] = StampOf(_paths[i]);
        }
        return stamps;
    }
}
