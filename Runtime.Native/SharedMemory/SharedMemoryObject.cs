using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Fabrik.Native.SharedMemory;

/// <summary>
/// A POSIX shared-memory object (what <c>shm_open</c> names) in <c>/dev/shm</c>, opened without
/// following links and checked to be a regular file on that directory's file system. Data moves
/// with pread/pwrite on the descriptor, never through a mapping: a client that truncates the
/// object afterwards makes a read come back short (which the caller refuses) instead of raising
/// SIGBUS in the server, which a mapped page past the new end would.
/// </summary>
/// <remarks>Thread-safe. The descriptor is a <see cref="SafeFileHandle"/>, so disposing while
/// another thread reads only closes it once that read returns.</remarks>
public sealed class SharedMemoryObject : IDisposable
{
    /// <summary>Where POSIX shared-memory objects live on Linux.</summary>
    public const string DirectoryPath = "/dev/shm";

    private const int StatxRecordSize = 256;
    private readonly SafeFileHandle _handle;

    private SharedMemoryObject(SafeFileHandle handle, uint ownerId)
    {
        _handle = handle;
        OwnerId = ownerId;
    }

    /// <summary>The user id that owns the object.</summary>
    public uint OwnerId { get; }

    /// <summary>The server's effective user id.</summary>
    public static uint EffectiveUserId => OperatingSystem.IsLinux() ? NativeMethods.GetEffectiveUserId() : uint.MaxValue;

    /// <summary>Opens <paramref name="name"/> (one file name, no slash) in <see cref="DirectoryPath"/>
    /// for reading and writing. The caller has checked the name; this refuses links, what is not a
    /// regular file and what lies on another file system.</summary>
    public static SharedMemoryOpenResult Open(string name, out SharedMemoryObject? opened)
    {
        opened = null;
        if (!OperatingSystem.IsLinux() || !OpenFlags.Known)
        {
            return SharedMemoryOpenResult.Unsupported;
        }
        if (name.Length == 0 || name.Contains('/') || name.Contains('\0'))
        {
            return SharedMemoryOpenResult.NotFound;
        }
        var directory = NativeMethods.Open(DirectoryPath, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow | OpenFlags.CloseOnExec, 0);
        if (directory < 0)
        {
            return Classify(Marshal.GetLastPInvokeError());
        }
        try
        {
            if (!Describe(directory, out var directoryInfo) || directoryInfo.Type != NativeMethods.Directory)
            {
                return SharedMemoryOpenResult.Failed;
            }
            // Non-blocking so that a FIFO planted under the name cannot stall the open; the type
            // check below refuses it anyway.
            var flags = OpenFlags.ReadWrite | OpenFlags.NoFollow | OpenFlags.CloseOnExec | OpenFlags.NonBlocking | OpenFlags.NoControllingTerminal;
            var descriptor = NativeMethods.OpenAt(directory, name, flags, 0);
            if (descriptor < 0)
            {
                return Classify(Marshal.GetLastPInvokeError());
            }
            var handle = new SafeFileHandle((IntPtr)descriptor, ownsHandle: true);
            if (!Describe(descriptor, out var info))
            {
                handle.Dispose();
                return SharedMemoryOpenResult.Failed;
            }
            if (info.Type != NativeMethods.RegularFile)
            {
                handle.Dispose();
                return SharedMemoryOpenResult.NotRegularFile;
            }
            if (info.DeviceMajor != directoryInfo.DeviceMajor || info.DeviceMinor != directoryInfo.DeviceMinor)
            {
                handle.Dispose();
                return SharedMemoryOpenResult.OtherFileSystem;
            }
            opened = new SharedMemoryObject(handle, info.OwnerId);
            return SharedMemoryOpenResult.Opened;
        }
        finally
        {
            NativeMethods.Close(directory);
        }
    }

    /// <summary>The object's size now, in bytes; -1 when it cannot be read (the descriptor closed).</summary>
    public long CurrentSize()
    {
        var added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            return Describe((int)_handle.DangerousGetHandle(), out var info) ? info.Size : -1;
        }
        catch (ObjectDisposedException)
        {
            return -1;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    /// <summary>Reads into <paramref name="destination"/> from <paramref name="offset"/>; returns
    /// the bytes read, fewer than asked when the object ends first.</summary>
    public int Read(Span<byte> destination, long offset)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var read = RandomAccess.Read(_handle, destination[total..], offset + total);
            if (read == 0)
            {
                break;
            }
            total += read;
        }
        return total;
    }

    /// <summary>Writes <paramref name="source"/> at <paramref name="offset"/>.</summary>
    public void Write(ReadOnlySpan<byte> source, long offset) => RandomAccess.Write(_handle, source, offset);

    /// <summary>Closes the descriptor (after any read or write in progress).</summary>
    public void Dispose() => _handle.Dispose();

    private static SharedMemoryOpenResult Classify(int error) => error switch
    {
        NativeMethods.ENOENT or NativeMethods.ENOTDIR => SharedMemoryOpenResult.NotFound,
        NativeMethods.ELOOP => SharedMemoryOpenResult.Link,
        NativeMethods.EISDIR => SharedMemoryOpenResult.NotRegularFile,
        NativeMethods.EACCES or NativeMethods.EPERM => SharedMemoryOpenResult.Denied,
        _ => SharedMemoryOpenResult.Failed,
    };

    private static unsafe bool Describe(int descriptor, out Description info)
    {
        var record = stackalloc byte[StatxRecordSize];
        new Span<byte>(record, StatxRecordSize).Clear();
        if (NativeMethods.Statx(descriptor, "", NativeMethods.AtEmptyPath, NativeMethods.StatxBasicStats, record) != 0)
        {
            info = default;
            return false;
        }
        var span = new ReadOnlySpan<byte>(record, StatxRecordSize);
        // struct statx: stx_uid at 20, stx_mode at 28, stx_size at 40, stx_dev_major/minor at 136/140.
        info = new Description(
            Type: BinaryPrimitives.ReadUInt16LittleEndian(span[28..]) & NativeMethods.FileTypeMask,
            OwnerId: BinaryPrimitives.ReadUInt32LittleEndian(span[20..]),
            Size: (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(span[40..]), long.MaxValue),
            DeviceMajor: BinaryPrimitives.ReadUInt32LittleEndian(span[136..]),
            DeviceMinor: BinaryPrimitives.ReadUInt32LittleEndian(span[140..]));
        return true;
    }

    private readonly record struct Description(int Type, uint OwnerId, long Size, uint DeviceMajor, uint DeviceMinor);
}
