using Microsoft.ML.OnnxRuntime;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// Says in the server's words why ONNX Runtime refused a model file. ONNX Runtime's messages carry
/// its error codes, the path it was given and its internals; they go to the server log (through
/// <see cref="ModelFileException.NativeMessage"/>) and never to a network caller.
/// </summary>
internal static class OnnxLoadFailure
{
    /// <summary>The common failures by what ONNX Runtime says, with a general sentence otherwise.</summary>
    public static ModelFileException Describe(string modelPath, OnnxRuntimeException e)
    {
        var file = Path.GetFileName(modelPath);
        var native = e.Message;
        var reason = ModelFileException.IsEmptyFile(modelPath) ? $"{file} is not a valid ONNX model: the file is empty"
            : ModelFileException.Mentions(native, "No graph was found") ? $"{file} is not a valid ONNX model: it has no graph"
            : ModelFileException.Mentions(native, "Protobuf parsing failed", "Failed to load model because protobuf parsing failed")
                ? $"{file} is not a valid ONNX model: it is not an ONNX protobuf, or it is truncated"
            : ModelFileException.Mentions(native, "IR version") ? $"{file} uses an ONNX IR version that this server's ONNX Runtime does not support"
            : ModelFileException.Mentions(native, "opset", "Opset") ? $"{file} uses an ONNX operator set version that this server's ONNX Runtime does not support"
            : ModelFileException.Mentions(native, "Could not find an implementation", "No Op registered", "is not a registered function/op")
                ? $"{file} uses an operator that this server's ONNX Runtime does not implement"
            : ModelFileException.Mentions(native, "ShapeInferenceError", "Type Error", "TypeInferenceError")
                ? $"{file} is not a valid ONNX model: its graph's types or shapes do not check"
            : $"{file} could not be loaded by ONNX Runtime (the server log has the library's message)";
        return new ModelFileException(reason, native, e);
    }

    /// <summary>Why the CUDA execution provider could not be added, without the library's text.</summary>
    public static ModelFileException NoCudaProvider(int gpu, Exception e) =>
        new($"the CUDA execution provider for GPU {gpu} could not be loaded (the server log has the library's message)", e.Message, e);
}
