namespace Fabrik.Native.LibTorch;

/// <summary>The libtorch that <c>LIBTORCH</c> or <c>LIBTORCH_USE_PYTORCH</c> names cannot be
/// used. The message names the setting and the file, in our words; it never carries a native
/// stack.</summary>
public sealed class LibTorchSetupException(string message) : Exception(message);
