using System.Text.RegularExpressions;
using Fabrik.Errors;
using Microsoft.ML.OnnxRuntime;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// What a failed ONNX Runtime run means for the client. A node of the graph that fails on the
/// values it was given (a Cast of the text "abc" to a number, an index out of range) is the
/// request's problem: InvalidArgument, naming the operation but not ONNX Runtime's own text. It
/// must not count against the model's health either, or a few hostile requests would take the
/// model out of service. So is an input the session refuses before it runs (a shape or rank the
/// configuration allowed but the graph does not). Everything else (the device, memory, the
/// runtime) stays Internal.
/// </summary>
internal static partial class RunFailure
{
    public static InferenceException Classify(string model, OnnxRuntimeException e)
    {
        if (DeviceOrMemory().IsMatch(e.Message))
        {
            return new InferenceException(ErrorKind.Internal, $"onnxruntime failed on model '{model}': {e.Message}", e);
        }
        if (NodeFailure().Match(e.Message) is { Success: true } node)
        {
            return new InferenceException(ErrorKind.InvalidArgument,
                $"model '{model}' could not compute a result from the values of this request: its {node.Groups[1].Value} operation failed on them", e);
        }
        if (InvalidArgument().IsMatch(e.Message))
        {
            return new InferenceException(ErrorKind.InvalidArgument, DescribeRefusedInput(model, e.Message), e);
        }
        return new InferenceException(ErrorKind.Internal, $"onnxruntime failed on model '{model}': {e.Message}", e);
    }

    // A configuration looser than the model (a free dimension where the graph fixes one, another
    // rank) lets a request through that the session then refuses before running anything: the
    // request's fault, as Triton answers it (400), said in our words from the values in the text.
    private static string DescribeRefusedInput(string model, string message)
    {
        if (InvalidDimension().Match(message) is { Success: true } dimension)
        {
            return $"model '{model}' expects dimension {dimension.Groups["index"].Value} of input '{dimension.Groups["input"].Value}' "
                + $"to be {dimension.Groups["expected"].Value}, got {dimension.Groups["got"].Value}";
        }
        if (InvalidRank().Match(message) is { Success: true } rank)
        {
            return $"model '{model}' expects input '{rank.Groups["input"].Value}' to have {rank.Groups["expected"].Value} dimensions, got {rank.Groups["got"].Value}";
        }
        return $"model '{model}' refused the inputs of this request: their shapes or datatypes do not fit the model";
    }

    [GeneratedRegex(@"^\[ErrorCode:InvalidArgument\]")]
    private static partial Regex InvalidArgument();

    [GeneratedRegex(@"invalid dimensions for input: (?<input>[\w.:/-]+) for the following indices\s+index: (?<index>\d+) Got: (?<got>-?\d+) Expected: (?<expected>-?\d+)")]
    private static partial Regex InvalidDimension();

    [GeneratedRegex(@"Invalid rank for input: (?<input>[\w.:/-]+) Got: (?<got>\d+) Expected: (?<expected>\d+)")]
    private static partial Regex InvalidRank();

    [GeneratedRegex(@"while running (\w+) node")]
    private static partial Regex NodeFailure();

    [GeneratedRegex("CUDA|CUDNN|cuDNN|CUBLAS|TensorRT|out of memory|bad_alloc|Failed to allocate", RegexOptions.IgnoreCase)]
    private static partial Regex DeviceOrMemory();
}
