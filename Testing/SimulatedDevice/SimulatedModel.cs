using System.Globalization;

namespace Fabrik.Testing.SimulatedDevice;

/// <summary>
/// A model folder for the simulated device: one FP32 input of <see cref="Width"/> values per row
/// and its output, <see cref="MaxBatchSize"/>, dynamic batching, the device's speed, and
/// <see cref="ExtraConfig"/> appended to config.pbtxt (a pipeline_depth, preserve_ordering...).
/// </summary>
public sealed record SimulatedModel(string Name)
{
    public int Width { get; init; } = 4096;

    public int MaxBatchSize { get; init; } = 32;

    public double RunMilliseconds { get; init; } = 8;

    public double CopyGigabytesPerSecond { get; init; } = 0.25;

    public int Instances { get; init; } = 1;

    /// <summary>The dynamic_batching block (Triton's defaults: no delay).</summary>
    public string Batching { get; init; } = "dynamic_batching { }";

    public string ExtraConfig { get; init; } = "";

    /// <summary>Writes <c>NAME/config.pbtxt</c> and <c>NAME/1/model.sim</c> under <paramref name="repository"/>.</summary>
    public void WriteTo(string repository)
    {
        var folder = Path.Combine(repository, Name);
        Directory.CreateDirectory(Path.Combine(folder, "1"));
        File.WriteAllText(Path.Combine(folder, "1", "model.sim"), "simulated device\n");
        File.WriteAllText(Path.Combine(folder, "config.pbtxt"), string.Create(CultureInfo.InvariantCulture, $$"""
            name: "{{Name}}"
            backend: "simulated_device"
            max_batch_size: {{MaxBatchSize}}
            input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ {{Width}} ] } ]
            output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ {{Width}} ] } ]
            instance_group [ { count: {{Instances}} kind: KIND_CPU } ]
            {{Batching}}
            parameters { key: "run_ms_per_batch" value: { string_value: "{{RunMilliseconds}}" } }
            parameters { key: "copy_gb_per_s" value: { string_value: "{{CopyGigabytesPerSecond}}" } }
            {{ExtraConfig}}

            """));
    }
}
