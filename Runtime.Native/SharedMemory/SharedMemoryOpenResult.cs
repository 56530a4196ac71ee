namespace Fabrik.Native.SharedMemory;

/// <summary>How opening a shared-memory object ended.</summary>
public enum SharedMemoryOpenResult
{
    /// <summary>Open and checked: a regular file on the shared-memory file system.</summary>
    Opened,

    /// <summary>No such object.</summary>
    NotFound,

    /// <summary>The name is a symbolic link, which is never followed.</summary>
    Link,

    /// <summary>Not a regular file (a directory, a FIFO, a device).</summary>
    NotRegularFile,

    /// <summary>Not on the file system of the shared-memory directory (something mounted there).</summary>
    OtherFileSystem,

    /// <summary>The server may not open it.</summary>
    Denied,

    /// <summary>Not Linux, or an architecture whose open flags are not known here.</summary>
    Unsupported,

    /// <summary>Any other failure.</summary>
    Failed,
}
