namespace Fabrik.Observability.Metrics;

/// <summary>What the server's response cache reports about itself, as Triton's local cache does:
/// entries held, lookups with their hits and misses, evictions, the time spent looking up and
/// inserting, and how full it is.</summary>
/// <param name="Entries">Responses held now.</param>
/// <param name="Lookups">Lookups since start (hits plus misses).</param>
/// <param name="Hits">Lookups that found a response.</param>
/// <param name="Misses">Lookups that found none.</param>
/// <param name="Evictions">Responses removed to make room for newer ones.</param>
/// <param name="LookupMicroseconds">Total time spent looking up, hits and misses.</param>
/// <param name="InsertionMicroseconds">Total time spent inserting.</param>
/// <param name="UsedBytes">Bytes the held responses (and their keys) take.</param>
/// <param name="SizeBytes">The cache's size (--cache-config local,size=N).</param>
internal readonly record struct ResponseCacheCounters(
    long Entries, long Lookups, long Hits, long Misses, long Evictions, long LookupMicroseconds, long InsertionMicroseconds, long UsedBytes, long SizeBytes)
{
    /// <summary>The fraction of the size in use, 0 to 1.</summary>
    public double Utilization => SizeBytes == 0 ? 0 : (double)UsedBytes / SizeBytes;
}
