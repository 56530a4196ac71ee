using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Fabrik.Client;

/// <summary>
/// A convenience for clients on the server's own host, outside the protocol (as Triton's
/// <c>tritonclient.utils.shared_memory</c> is): a POSIX shared-memory object created in
/// <c>/dev/shm</c> on Linux, which is what <c>shm_open</c> creates, readable and writable by its
/// owner only. Write the inputs into it, register it with
/// <see cref="FabrikClient.RegisterSystemSharedMemoryAsync"/> under its <see cref="Key"/>, name it in
/// requests, read the outputs back, unregister it, then dispose it, which removes the object
/// (<c>shm_unlink</c>). Reads and writes go through the file (<c>pread</c>/<c>pwrite</c>), so the
/// object is never mapped into this process. Safe for concurrent reads and writes of distinct ranges.
/// </summary>
public sealed class LocalSharedMemory : IDisposable
{
    private const string Directory = "/dev/shm/";

    private readonly FileStream _file;

    private LocalSharedMemory(string key, FileStream file, long byteSize)
    {
        Key = key;
        _file = file;
        ByteSize = byteSize;
    }

    /// <summary>The key to register: one <c>/</c> and the object's name.</summary>
    public string Key { get; }

    /// <summary>The object's size in bytes.</summary>
    public long ByteSize { get; }

    /// <summary>Creates a new object of <paramref name="byteSize"/> zero bytes under
    /// <paramref name="key"/> (<c>/name</c>: one leading slash, no other, at most 255 bytes).</summary>
    /// <exception cref="PlatformNotSupportedException">Not on Linux.</exception>
    /// <exception cref="ArgumentException">The key is not a valid object name, or the size not positive.</exception>
    /// <exception cref="IOException">An object of that name exists already, or it cannot be created.</exception>
    public static LocalSharedMemory Create(string key, long byteSize)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("system shared memory through /dev/shm needs Linux");
        }
        CheckKey(key);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(byteSize);
        var file = new FileStream(Directory + key[1..], new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.ReadWrite,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        try
        {
            file.SetLength(byteSize);
        }
        catch
        {
            file.Dispose();
            File.Delete(Directory + key[1..]);
            throw;
        }
        return new LocalSharedMemory(key, file, byteSize);
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie inside the object.</exception>
    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        CheckRange(offset, data.Length);
        RandomAccess.Write(Handle, data, offset);
    }

    /// <summary>Writes <paramref name="values"/> at <paramref name="offset"/> as their little-endian bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie inside the object.</exception>
    public void Write<T>(long offset, ReadOnlySpan<T> values) where T : unmanaged => Write(offset, MemoryMarshal.AsBytes(values));

    /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie inside the object.</exception>
    /// <exception cref="IOException">The object is shorter than it was created (another process truncated it).</exception>
    public void Read(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        var read = RandomAccess.Read(Handle, destination, offset);
        if (read != destination.Length)
        {
            throw new IOException($"shared memory '{Key}': read {read} of {destination.Length} bytes at offset {offset}; the object was truncated");
        }
    }

    /// <summary>Reads <paramref name="count"/> elements of <typeparamref name="T"/> from <paramref name="offset"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie inside the object.</exception>
    public T[] Read<T>(long offset, int count) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var values = new T[count];
        Read(offset, MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    /// <summary>Closes the object and removes its name (<c>shm_unlink</c>); a server that still
    /// holds it open keeps it until it lets go. Unregister it from the server first.</summary>
    public void Dispose()
    {
        _file.Dispose();
        File.Delete(Directory + Key[1..]);
    }

    private SafeFileHandle Handle => _file.SafeFileHandle;

    private void CheckRange(long offset, int length)
    {
        if (offset < 0 || offset > ByteSize || length > ByteSize - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"{length} bytes at offset {offset} do not lie inside the {ByteSize} bytes of shared memory '{Key}'");
        }
    }

    private static void CheckKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var name = key.Length > 1 && key[0] == '/' ? key[1..] : null;
        if (name is null || name is "." or ".." || name.Length > 255 || name.Contains('/', StringComparison.Ordinal) || name.Any(char.IsControl))
        {
            throw new ArgumentException($"'{key}' is not a shared-memory key: one leading '/' and a name of at most 255 characters, with no other '/'", nameof(key));
        }
    }
}
