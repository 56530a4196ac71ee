using Fabrik.Configuration;
using Microsoft.ML.OnnxRuntime;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// The GPU execution providers of one session: TensorRT first when the configuration names it
/// (Triton's gpu_execution_accelerator "tensorrt"), then CUDA on the instance's device with the
/// options of <see cref="CudaProviderOptions"/>. ONNX Runtime's CUDA provider computes FP32
/// convolutions and matrix products in TF32 by default on Ampere and later (as Triton's
/// onnxruntime backend does): about 1e-4 relative error. A model that needs full FP32 sets the
/// parameter use_tf32 to "0".
/// </summary>
/// <remarks>The option objects must outlive the session's creation; disposing this frees them.</remarks>
internal sealed class OnnxGpuProviders : IDisposable
{
    private OrtTensorRTProviderOptions? _tensorRt;
    private OrtCUDAProviderOptions? _cuda;

    /// <param name="options">The session's options.</param>
    /// <param name="config">The model's configuration.</param>
    /// <param name="gpu">The CUDA device.</param>
    /// <param name="computeStream">The instance's CUstream, or zero for the provider's own.</param>
    public void Append(SessionOptions options, ModelConfig config, int gpu, IntPtr computeStream)
    {
        var id = gpu.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var accelerator in config.Optimization.GpuAccelerators.Where(a => a.Name == "tensorrt"))
        {
            var trt = new Dictionary<string, string> { ["device_id"] = id };
            foreach (var (key, value) in accelerator.Parameters)
            {
                CudaProviderOptions.ThrowIfServerOnly("tensorrt", key);
                switch (key)
                {
                    case "precision_mode":
                        trt["trt_fp16_enable"] = value == "FP16" ? "1" : "0";
                        break;
                    case "max_workspace_size_bytes":
                        trt["trt_max_workspace_size"] = value;
                        break;
                    default:
                        trt[key] = value;
                        break;
                }
            }
            _tensorRt = new OrtTensorRTProviderOptions();
            _tensorRt.UpdateOptions(trt);
            options.AppendExecutionProvider_Tensorrt(_tensorRt);
        }
        _cuda = new OrtCUDAProviderOptions();
        _cuda.UpdateOptions(CudaProviderOptions.For(config, gpu, computeStream));
        options.AppendExecutionProvider_CUDA(_cuda);
    }

    public void Dispose()
    {
        _tensorRt?.Dispose();
        _cuda?.Dispose();
    }
}
