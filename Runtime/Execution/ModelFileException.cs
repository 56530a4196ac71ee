namespace Fabrik.Execution;

/// <summary>
/// A model file that a backend's native library refused to load. <see cref="Exception.Message"/>
/// says why in the server's own words and is what network callers see; the library's own text
/// (<see cref="NativeMessage"/>, with its paths, error codes and internals) goes to the server log only.
/// </summary>
internal sealed class ModelFileException(string message, string nativeMessage, Exception inner) : InvalidOperationException(message, inner)
{
    /// <summary>The native library's message, for the server log.</summary>
    public string NativeMessage { get; } = nativeMessage;
}
