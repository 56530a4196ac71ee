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
        var reason = ModelFileException.IsEmptyFile(modelPath) ? $"{file} is not a TorchScript archive: the file is empty"
            : ModelFileException.Mentions(native, "failed finding central directory", "not a ZIP archive")
                ? $"{file} is not a TorchScript archive"
            : ModelFileException.Mentions(native, "maximum supported version", "Attempted to read a PyTorch file with version")
                ? $"{file} was saved by a PyTorch newer than this server's libtorch reads"
            : ModelFileException.Mentions(native, "PytorchStreamReader failed reading", "invalid header or archive is corrupted", "truncated")
                ? $"{file} is not a TorchScript archive: it is truncated or damaged"
            : ModelFileException.Mentions(native, "Unknown builtin op", "Unknown type name", "Unknown operator")
                ? $"{file} uses an operator that this server's libtorch does not implement"
            : ModelFileException.Mentions(native, "constants.pkl", "data.pkl", "bytecode")
                ? $"{file} is not a TorchScript archive: it lacks the compiled module (save it with torch.jit.save)"
            : $"{file} could not be loaded by libtorch (the server log has the library's message)";
        return new ModelFileException(reason, native, e);
    }
}
