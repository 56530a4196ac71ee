using System.Globalization;
using Fabrik.Configuration;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// The options of ONNX Runtime's CUDA execution provider for one instance: the device, the
/// instance's own stream (<c>user_compute_stream</c>) when it has one, and what the model sets in
/// its <c>parameters</c> or a "cuda" gpu_execution_accelerator entry. Values are taken as Triton's
/// onnxruntime backend documents them (cudnn_conv_algo_search 0, 1, 2; arena_extend_strategy 0,
/// 1) or as ONNX Runtime names them (EXHAUSTIVE, kSameAsRequested, ...), and passed on in ONNX
/// Runtime's spelling, which is the only one its option parser accepts.
/// </summary>
internal static class CudaProviderOptions
{
    /// <summary>Model parameters that configure the CUDA provider.</summary>
    public static readonly IReadOnlyList<string> ParameterKeys =
        ["cudnn_conv_algo_search", "gpu_mem_limit", "arena_extend_strategy", "enable_cuda_graph", "do_copy_in_default_stream", "use_tf32"];

    // Native addresses: the server sets the stream itself, and nothing else may be given one.
    private static readonly string[] ServerOnly =
        ["user_compute_stream", "has_user_compute_stream", "gpu_external_alloc", "gpu_external_free", "gpu_external_empty_cache"];

    /// <summary>The provider options for <paramref name="config"/> on CUDA device
    /// <paramref name="gpu"/>, with <paramref name="computeStream"/> (a CUstream, or zero for the
    /// provider's own) as the stream every kernel and copy of the session runs on.</summary>
    /// <exception cref="InvalidOperationException">A parameter's value is not one the provider takes,
    /// or the configuration names a server-only option; the message names it.</exception>
    public static Dictionary<string, string> For(ModelConfig config, int gpu, IntPtr computeStream)
    {
        var options = new Dictionary<string, string> { ["device_id"] = gpu.ToString(CultureInfo.InvariantCulture) };
        foreach (var key in ParameterKeys)
        {
            if (config.Parameters.TryGetValue(key, out var value))
            {
                options[key] = Normalize(key, value);
            }
        }
        foreach (var accelerator in config.Optimization.GpuAccelerators.Where(a => a.Name == "cuda"))
        {
            foreach (var (key, value) in accelerator.Parameters)
            {
                ThrowIfServerOnly("cuda", key);
                options[key] = Normalize(key, value);
            }
        }
        if (computeStream != IntPtr.Zero)
        {
            options["has_user_compute_stream"] = "1";
            options["user_compute_stream"] = ((ulong)(long)computeStream).ToString(CultureInfo.InvariantCulture);
        }
        return options;
    }

    /// <summary>Refuses an accelerator parameter that carries a native address.</summary>
    /// <exception cref="InvalidOperationException">It does.</exception>
    public static void ThrowIfServerOnly(string accelerator, string key)
    {
        if (ServerOnly.Contains(key))
        {
            throw new InvalidOperationException($"the {accelerator} accelerator parameter '{key}' is set by the server and cannot be configured");
        }
    }

    /// <summary>Whether the model asks for CUDA graphs (captured per batch size and staging set).</summary>
    public static bool GraphsEnabled(ModelConfig config) =>
        For(config, 0, IntPtr.Zero).TryGetValue("enable_cuda_graph", out var value) && value == "1";

    /// <summary>ONNX Runtime's spelling of a parameter's value.</summary>
    public static string Normalize(string key, string value) => key switch
    {
        "cudnn_conv_algo_search" => value.ToUpperInvariant() switch
        {
            "0" or "EXHAUSTIVE" => "EXHAUSTIVE",
            "1" or "HEURISTIC" => "HEURISTIC",
            "2" or "DEFAULT" => "DEFAULT",
            _ => throw Invalid(key, value, "0 (EXHAUSTIVE), 1 (HEURISTIC) or 2 (DEFAULT)"),
        },
        "arena_extend_strategy" => value switch
        {
            "0" or "kNextPowerOfTwo" => "kNextPowerOfTwo",
            "1" or "kSameAsRequested" => "kSameAsRequested",
            _ => throw Invalid(key, value, "0 (kNextPowerOfTwo) or 1 (kSameAsRequested)"),
        },
        "enable_cuda_graph" or "use_tf32" or "do_copy_in_default_stream" => value.ToLowerInvariant() switch
        {
            "1" or "true" => "1",
            "0" or "false" => "0",
            _ => throw Invalid(key, value, "0 or 1"),
        },
        "gpu_mem_limit" => ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? value : throw Invalid(key, value, "a number of bytes"),
        _ => value,
    };

    private static InvalidOperationException Invalid(string key, string value, string expected) =>
        new($"parameter {key} must be {expected}, not '{value}'");
}
