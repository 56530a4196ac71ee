namespace Fabrik.Execution.TorchSharp;

/// <summary>
/// Says in the server's words why libtorch refused a TorchScript file. libtorch's messages carry
/// its source locations, stack frames and the path it was given; they go to the server log
/// (through <see cref="ModelFileException.NativeMessage"/>) and never to a network caller.
/// </summary>
internal static class TorchScriptLoadFailure
{
    /// <summary>The common failures by what libtorch says, with a general sentence otherwise.</summary>
    public static ModelFileException Describe(string modelPath, Exception e)
    {
        var file = Path.GetFileName(modelPath);
        var native = e.Message;
        var reason = IsEmpty(modelPath) ? $"{file} is not a TorchScript archive: the file is empty"
            : Says(native, "failed finding central directory") || Says(native, "not a ZIP archive")
                ? $"{file} is not a TorchScript archive"
            : Says(native, "maximum supported version") || Says(native, "Attempted to read a PyTorch file with version")
                ? $"{file} was saved by a PyTorch newer than this server's libtorch reads"
            : Says(native, "PytorchStreamReader failed reading") || Says(native, "invalid header or archive is corrupted") || Says(native, "truncated")
                ? $"{file} is not a TorchScript archive: it is truncated or damaged"
            : Says(native, "Unknown builtin op") || Says(native, "Unknown type name") || Says(native, "Unknown operator")
                ? $"{file} uses an operator that this server's libtorch does not implement"
            : Says(native, "constants.pkl") || Says(native, "data.pkl") || Says(native, "bytecode")
                ? $"{file} is not a TorchScript archive: it lacks the compiled module (save it with torch.jit.save)"
            : $"{file} could not be loaded by libtorch (the server log has the library's message)";
        return new ModelFileException(reason, native, e);
    }

    private static bool Says(string native, string phrase) => native.Contains(phrase, StringComparison.Ordinal);

    private static bool IsEmpty(string modelPath)
    {
        try
        {
            return new FileInfo(modelPath).Length == 0;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
