using System.Globalization;
using Fabrik.Configuration;

namespace Fabrik.Testing.SimulatedDevice;

/// <summary>
/// How fast the simulated device is, from the model's config.pbtxt parameters:
/// <c>run_ms_per_batch</c> (the time one run takes, whatever its rows; default 8) and
/// <c>copy_gb_per_s</c> (each way, in 10^9 bytes a second; default 0.25).
/// </summary>
internal sealed record SimulatedDeviceSettings(TimeSpan RunTime, double CopyBytesPerSecond)
{
    public const string RunParameter = "run_ms_per_batch";

    public const string CopyParameter = "copy_gb_per_s";

    public static SimulatedDeviceSettings From(ModelConfig config) =>
        new(TimeSpan.FromMilliseconds(Number(config, RunParameter) ?? 8), (Number(config, CopyParameter) ?? 0.25) * 1e9);

    /// <summary>Why the parameters cannot be used; null when they can.</summary>
    public static string? Problem(ModelConfig config)
    {
        foreach (var key in new[] { RunParameter, CopyParameter })
        {
            if (config.Parameters.TryGetValue(key, out var text) && Number(config, key) is not > 0)
            {
                return $"parameter {key} must be a positive number, not '{text}'";
            }
        }
        return null;
    }

    /// <summary>The time copying <paramref name="bytes"/> one way takes.</summary>
    public TimeSpan CopyTime(long bytes) => TimeSpan.FromSeconds(bytes / CopyBytesPerSecond);

    private static double? Number(ModelConfig config, string key) =>
        config.Parameters.TryGetValue(key, out var text)
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
            ? value
            : null;
}
