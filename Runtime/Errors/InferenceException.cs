namespace Fabrik.Errors;

/// <summary>A failure to report to the client, with a message that names the problem.</summary>
internal sealed class InferenceException(ErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The category, which each protocol maps to its status code.</summary>
    public ErrorKind Kind { get; } = kind;

    public static InferenceException InvalidArgument(string message) => new(ErrorKind.InvalidArgument, message);

    public static InferenceException NotFound(string message) => new(ErrorKind.NotFound, message);

    public static InferenceException Unavailable(string message) => new(ErrorKind.Unavailable, message);

    public static InferenceException Overloaded(string message) => new(ErrorKind.Overloaded, message);

    public static InferenceException Unsupported(string message) => new(ErrorKind.Unsupported, message);

    public static InferenceException PermissionDenied(string message) => new(ErrorKind.PermissionDenied, message);
}
