namespace Fabrik.Native;

/// <summary>A native library reported an error; the message carries the library's own text.</summary>
public sealed class NativeException(string message) : Exception(message);
