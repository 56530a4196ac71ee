using System.Runtime;

namespace Fabrik.Hosting;

/// <summary>The managed heap's settings as the runtime applied them, for the start-up log: which
/// collector runs, its gen0 budget cap (System.GC.Gen0MaxBudget) and the ceiling it keeps to (a container's memory limit, DOTNET_GCHeapHardLimit or
/// DOTNET_GCHeapHardLimitPercent, else the machine's memory).</summary>
internal static class ManagedHeapDescription
{
    public static string Describe()
    {
        var variables = GC.GetConfigurationVariables();
        var collector = GCSettings.IsServerGC ? "server GC" : "workstation GC";
        var limit = variables.TryGetValue("GCHeapHardLimit", out var hard) && Convert.ToUInt64(hard) is > 0 and var bytes
            ? $"heap limit {Mebibytes(bytes)} MiB"
            : $"no heap limit (memory {Mebibytes((ulong)GC.GetGCMemoryInfo().TotalAvailableMemoryBytes)} MiB)";
        var gen0 = variables.TryGetValue("GCGen0MaxBudget", out var budget) && Convert.ToUInt64(budget) is > 0 and var gen0Bytes
            ? $", gen0 at most {Mebibytes(gen0Bytes)} MiB per heap"
            : "";
        return $"managed heap: {collector}{gen0}, {limit}";
    }

    private static ulong Mebibytes(ulong bytes) => bytes / (1024 * 1024);
}
