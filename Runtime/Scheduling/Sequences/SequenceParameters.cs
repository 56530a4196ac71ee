using Fabrik.Errors;
using Fabrik.Inference;

namespace Fabrik.Scheduling.Sequences;

/// <summary>
/// Reads the request parameters of a stateful model's request as Triton's clients send them:
/// <c>sequence_id</c> (an unsigned integer, or a string), <c>sequence_start</c> and
/// <c>sequence_end</c> (booleans). Anything else is InvalidArgument, in the client's terms, before
/// the request reaches the batcher. Stateless.
/// </summary>
internal static class SequenceParameters
{
    /// <summary>The longest string id accepted, in characters: ids are kept while their sequence
    /// lives, so their size is bounded.</summary>
    public const int MaxIdLength = 256;

    public static SequenceFlags Read(InferenceRequest request, string modelName)
    {
        if (!request.Parameters.TryGetValue("sequence_id", out var value))
        {
            throw InferenceException.InvalidArgument(
                $"inference request to model '{modelName}' must specify a non-zero or non-empty correlation ID (parameter 'sequence_id'): the model uses the sequence batcher");
        }
        var id = value switch
        {
            long signed when signed > 0 => new SequenceId((ulong)signed, null),
            ulong unsigned when unsigned > 0 => new SequenceId(unsigned, null),
            long or ulong => throw InferenceException.InvalidArgument(
                $"parameter 'sequence_id' must be a non-zero unsigned 64-bit integer or a non-empty string, got {value}"),
            string { Length: 0 } => throw InferenceException.InvalidArgument("parameter 'sequence_id' must not be an empty string"),
            string { Length: > MaxIdLength } text => throw InferenceException.InvalidArgument(
                $"parameter 'sequence_id' is a string of {text.Length} characters; at most {MaxIdLength} are accepted"),
            string text => new SequenceId(0, text),
            double => throw InferenceException.InvalidArgument("parameter 'sequence_id' must be an unsigned 64-bit integer or a string; the number given is not one (fractional, or out of range)"),
            _ => throw InferenceException.InvalidArgument("parameter 'sequence_id' must be an unsigned 64-bit integer or a string, not a boolean"),
        };
        return new SequenceFlags(id, Flag(request, "sequence_start"), Flag(request, "sequence_end"));
    }

    private static bool Flag(InferenceRequest request, string name) =>
        !request.Parameters.TryGetValue(name, out var value) ? false
        : value is bool flag ? flag
        : throw InferenceException.InvalidArgument($"parameter '{name}' must be true or false");
}
