using System.Text.RegularExpressions;
using Fabrik.Errors;

namespace Fabrik.Execution.TorchSharp;

/// <summary>
/// What a failed TorchScript run means for the client, as <c>OnnxRuntime.RunFailure</c> decides
/// for ONNX Runtime. An operation that fails on the shapes or values it was given (a Linear layer
/// handed rows of the wrong width, an index past the end, the model's own <c>raise ValueError</c>)
/// is the request's problem: InvalidArgument, naming the operation from the TorchScript traceback
/// but never libtorch's text or the model's code, and not counted against the model's health.
/// Everything else (the device, memory, an operator missing for a type, libtorch itself) stays
/// Internal.
/// </summary>
internal static partial class TorchScriptRunFailure
{
    public static InferenceException Classify(string model, string message, Exception inner)
    {
        var error = LastErrorLine(message);
        if (IsDataError(error))
        {
            var operation = FailedOperation(message);
            var what = operation is null ? "the model refused them" : $"its {operation} operation failed on them";
            return new InferenceException(ErrorKind.InvalidArgument,
                $"model '{model}' could not compute a result from the shapes or values of this request: {what}", inner);
        }
        return new InferenceException(ErrorKind.Internal, $"TorchScript model '{model}' failed: {TorchScriptInstance.LibTorchMessage(message)}", inner);
    }

    /// <summary>Whether libtorch's final error line blames the data. Python-level IndexError and
    /// ValueError (raised by indexing or by the model's own checks) always do; a RuntimeError
    /// does when it is one of ATen's shape, size or range checks. Device and memory failures
    /// never do, whatever else they say.</summary>
    internal static bool IsDataError(string error)
    {
        if (DeviceOrMemory().IsMatch(error) || MissingOperator().IsMatch(error))
        {
            return false;
        }
        return ValueOrIndexError().IsMatch(error) || ShapeOrRangeCheck().IsMatch(error);
    }

    /// <summary>The last non-empty line: libtorch ends with "RuntimeError: ..." after the
    /// tracebacks, or the message is that one sentence (and a C++ stack, cut off here).</summary>
    private static string LastErrorLine(string message)
    {
        var text = TorchScriptInstance.LibTorchMessage(message);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "" : lines[^1];
    }

    /// <summary>The call under the last "&lt;--- HERE" marker of the serialized-code traceback
    /// (the innermost frame), such as <c>torch.linear</c>; null when there is none or it is not
    /// a plain name. The original-code traceback that follows it is never read: it holds the
    /// paths where the model was built.</summary>
    internal static string? FailedOperation(string message)
    {
        var original = message.IndexOf("Traceback of TorchScript, original code", StringComparison.Ordinal);
        var serialized = original >= 0 ? message[..original] : message;
        var lines = serialized.Split('\n');
        for (var i = lines.Length - 1; i > 0; i--)
        {
            var marker = lines[i];
            var start = marker.IndexOf('~', StringComparison.Ordinal);
            if (start < 0 || !marker.Contains("<--- HERE", StringComparison.Ordinal))
            {
                continue;
            }
            var end = marker.LastIndexOf('~') + 1;
            var code = lines[i - 1];
            if (end > code.Length)
            {
                return null;
            }
            var call = code[start..end];
            return PlainName().IsMatch(call) ? call : null;
        }
        return null;
    }

    [GeneratedRegex(@"^(builtins\.)?(ValueError|IndexError)\b")]
    private static partial Regex ValueOrIndexError();

    [GeneratedRegex(
        @"shapes cannot be multiplied|size of tensor|sizes of tensors must match|must match the size|non-singleton dimension|is invalid for input of size|"
        + @"out of bounds|out of range|size mismatch|shape mismatch|cannot be broadcast|not broadcastable|expected .*(dim|size|shape|channels|input)|"
        + @"Given groups=|Kernel size can't be greater|number of dimensions|invalid shape|cannot reshape",
        RegexOptions.IgnoreCase)]
    private static partial Regex ShapeOrRangeCheck();

    [GeneratedRegex("CUDA|CUDNN|cuDNN|CUBLAS|NCCL|out of memory|can't allocate memory|DefaultCPUAllocator|bad_alloc|Failed to allocate", RegexOptions.IgnoreCase)]
    private static partial Regex DeviceOrMemory();

    [GeneratedRegex("not implemented for|Could not run '|NYI|Unsupported|not supported", RegexOptions.IgnoreCase)]
    private static partial Regex MissingOperator();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]
    private static partial Regex PlainName();
}
