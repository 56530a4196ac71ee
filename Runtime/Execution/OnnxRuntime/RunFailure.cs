using System.Text.RegularExpressions;
using Fabrik.Errors;
using Microsoft.ML.OnnxRuntime;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// What a failed ONNX Runtime run means for the client. A node of the graph that fails on the
/// values it was given (a Cast of the text "abc" to a number, an index out of range) is the
/// request's problem: InvalidArgument, naming the operation but not ONNX Runtime's own text. It
/// must not count against the model's health either, or a few hostile requests would take the
/// model out of service. Everything else (the device, memory, the runtime) stays Internal.
/// </summary>
internal static partial class RunFailure
{
    public static InferenceException Classify(string model, OnnxRuntimeException e)
    {
        if (NodeFailure().Match(e.Message) is { Success: true } node && !DeviceOrMemory().IsMatch(e.Message))
        {
            return new InferenceException(ErrorKind.InvalidArgument,
                $"model '{model}' could not compute a result from the values of this request: its {node.Groups[1].Value} operation failed on them", e);
        }
        return new InferenceException(ErrorKind.Internal, $"onnxruntime failed on model '{model}': {e.Message}", e);
    }

    [GeneratedRegex(@"while running (\w+) node")]
    private static partial Regex NodeFailure();

    [GeneratedRegex("CUDA|CUDNN|cuDNN|CUBLAS|TensorRT|out of memory|bad_alloc|Failed to allocate", RegexOptions.IgnoreCase)]
    private static partial Regex DeviceOrMemory();
}
