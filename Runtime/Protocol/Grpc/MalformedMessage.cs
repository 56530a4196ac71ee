using System.Text;
using Google.Protobuf;

namespace Fabrik.Protocol.Grpc;

/// <summary>
/// What is wrong with a gRPC request that does not parse as its protobuf message, in the client's
/// terms: protobuf's own text addresses the library's programmer (it names CodedInputStream and
/// its settings), so each of its failures is said again here, and an unknown one generically.
/// </summary>
internal static class MalformedMessage
{
    /// <summary>The description for a parse failure, or null when <paramref name="e"/> is not one.</summary>
    public static string? Describe(string messageName, Exception e)
    {
        var problem = e switch
        {
            DecoderFallbackException or { InnerException: DecoderFallbackException } => "a string field is not valid UTF-8",
            InvalidProtocolBufferException protobuf when protobuf.Message.Contains("UTF", StringComparison.OrdinalIgnoreCase) => "a string field is not valid UTF-8",
            InvalidProtocolBufferException protobuf => Problem(protobuf.Message),
            _ => null,
        };
        return problem is null ? null : $"malformed {messageName}: {problem}";
    }

    private static string Problem(string text) => text switch
    {
        _ when text.Contains("ended unexpectedly", StringComparison.Ordinal) => "it ends in the middle of a field (truncated, or a field claims more bytes than follow)",
        _ when text.Contains("negative size", StringComparison.Ordinal) => "a field claims a negative length",
        _ when text.Contains("malformed varint", StringComparison.Ordinal) => "a number (varint) is malformed",
        _ when text.Contains("invalid tag (zero)", StringComparison.Ordinal) => "a field has number 0",
        _ when text.Contains("invalid wire type", StringComparison.Ordinal) => "a field has an invalid wire type",
        _ when text.Contains("end-group tag", StringComparison.Ordinal) => "a group's end does not match its start",
        _ when text.Contains("levels of nesting", StringComparison.Ordinal) => "it nests messages too deeply",
        _ when text.Contains("too large", StringComparison.Ordinal) => "it is too large",
        _ when text.Contains("more data was available", StringComparison.Ordinal) => "bytes follow the end of the message",
        _ => "it is not a valid protobuf encoding of the message",
    };
}
