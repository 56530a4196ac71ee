namespace Fabrik.Testing;

/// <summary>
/// A POSIX shared-memory object as a client makes one: a file directly in /dev/shm (what
/// shm_open creates), written and read through the file system, independently of the server's
/// own code. Deleted (shm_unlink) on dispose.
/// </summary>
public sealed class SharedMemoryFile : IDisposable
{
    /// <summary>Creates an object of <paramref name="size"/> zero bytes under a fresh name.</summary>
    public SharedMemoryFile(long size)
    {
        Name = $"fabrik-test-{Guid.NewGuid():N}";
        using var file = new FileStream(Path, FileMode.CreateNew, FileAccess.ReadWrite);
        file.SetLength(size);
    }

    /// <summary>The file name in /dev/shm.</summary>
    public string Name { get; }

    /// <summary>The key a client registers: the name after one '/'.</summary>
    public string Key => "/" + Name;

    public string Path => "/dev/shm/" + Name;

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        using var handle = File.OpenHandle(Path, FileMode.Open, FileAccess.ReadWrite);
        RandomAccess.Write(handle, data, offset);
    }

    public byte[] Read(long offset, int length)
    {
        using var handle = File.OpenHandle(Path, FileMode.Open, FileAccess.Read);
        var data = new byte[length];
        var read = RandomAccess.Read(handle, data, offset);
        return read == length ? data : throw new InvalidOperationException($"read {read} of {length} bytes");
    }

    /// <summary>Sets the object's size, as ftruncate does.</summary>
    public void Resize(long size)
    {
        using var file = new FileStream(Path, FileMode.Open, FileAccess.ReadWrite);
        file.SetLength(size);
    }

    public void Dispose() => File.Delete(Path);
}
