using Fabrik.Errors;
using Fabrik.Native.SharedMemory;

namespace Fabrik.Protocol.SharedMemory;

/// <summary>
/// One registered system shared-memory region: <see cref="SharedMemoryRegion.ByteSize"/> bytes
/// from <see cref="Offset"/> in the object that <see cref="Key"/> names. Data moves with one
/// pread/pwrite per tensor, never through a mapping, so a client that truncates its object makes
/// its own requests fail rather than the server fault (SIGBUS).
/// </summary>
/// <remarks>The object's descriptor closes with the last lease. Thread-safe.</remarks>
internal sealed class SystemSharedMemoryRegion(string name, string key, long offset, long byteSize, SharedMemoryObject opened)
    : SharedMemoryRegion(name, byteSize)
{
    public string Key { get; } = key;

    /// <summary>Where the region starts in the object; + ByteSize fits a long (checked at registration).</summary>
    public long Offset { get; } = offset;

    public override string Kind => "system";

    public override void Read(string tensor, long offset, Span<byte> destination)
    {
        CheckObjectSize(tensor, offset, destination.Length);
        if (opened.Read(destination, Offset + offset) != destination.Length)
        {
            throw Shrunk(tensor);
        }
    }

    public override void Write(string tensor, long offset, ReadOnlySpan<byte> source)
    {
        // Checked first so that an object the client shrank is not grown back by the write.
        CheckObjectSize(tensor, offset, source.Length);
        opened.Write(source, Offset + offset);
    }

    protected override void Close() => opened.Dispose();

    private void CheckObjectSize(string tensor, long offset, long length)
    {
        if (opened.CurrentSize() < Offset + offset + length)
        {
            throw Shrunk(tensor);
        }
    }

    private InferenceException Shrunk(string tensor) => InferenceException.InvalidArgument(
        $"tensor '{tensor}': the object behind shared memory region '{Name}' is now smaller than the region (it was truncated after registration); register it again");
}
