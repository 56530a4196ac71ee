namespace Fabrik.Hosting;

/// <summary>Bytes in the pinned object heap's objects, dead ones included until a full collection
/// frees them: after the last collection of any generation (<see cref="ObjectsNow"/>; a young
/// collection does not collect the pinned heap, but measures it) and after the last full one,
/// when only live objects were left (<see cref="LiveAfterLastFullCollection"/>). Free space inside
/// the heap is not counted: the heap is never compacted, so a full collection leaves its freed
/// arrays as free space that new ones fill before the heap takes new pages.</summary>
internal readonly record struct PinnedHeap(long ObjectsNow, long LiveAfterLastFullCollection)
{
    private const int Generation = 4; // GC generations 0-2, then the large and the pinned object heaps

    /// <summary>Pinned bytes allocated since the last full collection and not yet collected.</summary>
    public long Growth => ObjectsNow - LiveAfterLastFullCollection;

    public static PinnedHeap FromRuntime()
    {
        var blocking = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        var background = GC.GetGCMemoryInfo(GCKind.Background);
        var lastFull = blocking.Index >= background.Index ? blocking : background;
        return new PinnedHeap(ObjectBytes(GC.GetGCMemoryInfo(GCKind.Any)), ObjectBytes(lastFull));
    }

    private static long ObjectBytes(GCMemoryInfo info) =>
        info.GenerationInfo.Length > Generation
            ? info.GenerationInfo[Generation].SizeAfterBytes - info.GenerationInfo[Generation].FragmentationAfterBytes
            : 0;
}
