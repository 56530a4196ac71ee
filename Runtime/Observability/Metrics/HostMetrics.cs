using System.Diagnostics.Metrics;
using System.Globalization;
using Fabrik.Native;

namespace Fabrik.Observability.Metrics;

/// <summary>
/// Triton's per-interval metrics: CPU utilisation and memory (from /proc, as Triton reads them),
/// the pinned memory pool, and every GPU through NVML with its <c>gpu_uuid</c>. A timer samples
/// them every --metrics-interval-ms; scrapes read the last sample.
/// </summary>
/// <remarks>The timer callback is the only writer; it publishes each sample through one volatile
/// reference, so scrapes never see half of one.</remarks>
internal sealed partial class HostMetrics : IDisposable
{
    /// <summary>The GPU metrics, reported only where NVML finds a GPU.</summary>
    public static readonly IReadOnlyList<string> GpuMetricNames =
        ["nv_gpu_utilization", "nv_gpu_memory_total_bytes", "nv_gpu_memory_used_bytes", "nv_gpu_power_usage", "nv_gpu_power_limit", "nv_energy_consumption"];

    private static readonly KeyValuePair<string, object?>[] NoTags = [];
    private readonly GpuTelemetry? _gpus;
    private readonly ITimer? _timer;
    private readonly Lock _sampling = new();
    private volatile CpuSample? _cpu;
    private volatile GpuSample[] _gpuSamples = [];
    private (ulong Busy, ulong Total)? _previousTicks;

    /// <param name="meter">Where the instruments are created.</param>
    /// <param name="settings">Which metrics, and how often to sample.</param>
    /// <param name="pinnedPoolTotalBytes">Bytes the pinned tensor pool holds (rented and idle).</param>
    /// <param name="pinnedPoolUsedBytes">Bytes of the pool rented out now.</param>
    /// <param name="logger">Says once why GPU metrics are absent.</param>
    public HostMetrics(FabrikMeter meter, MetricsSettings settings, Func<long> pinnedPoolTotalBytes, Func<long> pinnedPoolUsedBytes, ILogger logger)
    {
        var api = meter.Meter;
        var unlabelled = new InstrumentShape([]);
        meter.Add(api.CreateObservableGauge("nv_pinned_memory_pool_total_bytes", () => (double)pinnedPoolTotalBytes(),
            description: "Pinned memory pool total memory size, in bytes"), unlabelled);
        meter.Add(api.CreateObservableGauge("nv_pinned_memory_pool_used_bytes", () => (double)pinnedPoolUsedBytes(),
            description: "Pinned memory pool used memory size, in bytes"), unlabelled);

        if (settings.CpuMetrics && OperatingSystem.IsLinux())
        {
            meter.Add(api.CreateObservableGauge("nv_cpu_utilization", () => Cpu(sample => sample.Utilization),
                description: "CPU utilization rate [0.0 - 1.0]"), unlabelled);
            meter.Add(api.CreateObservableGauge("nv_cpu_memory_total_bytes", () => Cpu(sample => sample.MemoryTotalBytes),
                description: "CPU total memory (RAM), in bytes"), unlabelled);
            meter.Add(api.CreateObservableGauge("nv_cpu_memory_used_bytes", () => Cpu(sample => sample.MemoryUsedBytes),
                description: "CPU used memory (RAM), in bytes"), unlabelled);
        }

        if (settings.GpuMetrics)
        {
            _gpus = GpuTelemetry.TryOpen(out var unavailable);
            if (_gpus is null)
            {
                Log.NoGpuMetrics(logger, unavailable ?? "no GPU");
            }
            else
            {
                var gpu = new InstrumentShape(["gpu_uuid"]);
                meter.Add(api.CreateObservableGauge("nv_gpu_utilization", () => Gpus(sample => sample.Utilization),
                    description: "GPU utilization rate [0.0 - 1.0)"), gpu);
                meter.Add(api.CreateObservableGauge("nv_gpu_memory_total_bytes", () => Gpus(sample => sample.MemoryTotalBytes),
                    description: "GPU total memory, in bytes"), gpu);
                meter.Add(api.CreateObservableGauge("nv_gpu_memory_used_bytes", () => Gpus(sample => sample.MemoryUsedBytes),
                    description: "GPU used memory, in bytes"), gpu);
                meter.Add(api.CreateObservableGauge("nv_gpu_power_usage", () => Gpus(sample => sample.PowerWatts),
                    description: "GPU power usage in watts"), gpu);
                meter.Add(api.CreateObservableGauge("nv_gpu_power_limit", () => Gpus(sample => sample.PowerLimitWatts),
                    description: "GPU power management limit in watts"), gpu);
                meter.Add(api.CreateObservableCounter("nv_energy_consumption", () => Gpus(sample => sample.EnergyJoules),
                    description: "GPU energy consumption in joules since the Fabrik server started"), gpu);
            }
        }

        Sample();
        if (_gpus is not null || settings.CpuMetrics)
        {
            var interval = TimeSpan.FromMilliseconds(settings.IntervalMilliseconds);
            _timer = TimeProvider.System.CreateTimer(_ => Sample(), null, interval, interval);
        }
    }

    public void Dispose()
    {
        _timer?.Dispose();
        lock (_sampling)
        {
            _gpus?.Dispose();
        }
    }

    private IEnumerable<Measurement<double>> Cpu(Func<CpuSample, double> value) =>
        _cpu is { } sample ? [new Measurement<double>(value(sample), NoTags)] : [];

    private IEnumerable<Measurement<double>> Gpus(Func<GpuSample, double?> value)
    {
        foreach (var sample in _gpuSamples)
        {
            if (value(sample) is { } figure)
            {
                yield return new Measurement<double>(figure, new KeyValuePair<string, object?>("gpu_uuid", sample.Uuid));
            }
        }
    }

    private void Sample()
    {
        lock (_sampling)
        {
            if (_gpus is not null)
            {
                _gpuSamples = _gpus.Sample();
            }
            _cpu = ReadCpu();
        }
    }

    /// <summary>Utilisation over the last interval from /proc/stat's first line, and memory from
    /// /proc/meminfo (used = MemTotal - MemAvailable), as Triton computes them.</summary>
    private CpuSample? ReadCpu()
    {
        try
        {
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var ticks = fields.Skip(1).Take(8).Select(field => ulong.Parse(field, CultureInfo.InvariantCulture)).ToArray();
            var total = ticks.Aggregate(0UL, (sum, tick) => sum + tick);
            var idle = ticks[3] + ticks[4]; // idle + iowait
            var busy = total - idle;
            var utilization = 0.0;
            if (_previousTicks is { } previous && total > previous.Total)
            {
                utilization = Math.Clamp((busy - previous.Busy) / (double)(total - previous.Total), 0, 1);
            }
            _previousTicks = (busy, total);

            ulong memTotal = 0, memAvailable = 0;
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                {
                    memTotal = Kilobytes(line);
                }
                else if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                {
                    memAvailable = Kilobytes(line);
                }
            }
            return new CpuSample(utilization, memTotal, memTotal - Math.Min(memTotal, memAvailable));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException or InvalidOperationException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static ulong Kilobytes(string line) =>
        ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;

    private sealed record CpuSample(double Utilization, double MemoryTotalBytes, double MemoryUsedBytes);

    private static partial class Log
    {
        [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "GPU metrics are not reported: {Reason}")]
        public static partial void NoGpuMetrics(ILogger logger, string reason);
    }
}
