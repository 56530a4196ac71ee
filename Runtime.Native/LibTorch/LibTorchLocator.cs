using System.ComponentModel;
using System.Diagnostics;

namespace Fabrik.Native.LibTorch;

/// <summary>
/// Finds the libtorch that <c>LIBTORCH</c> or <c>LIBTORCH_USE_PYTORCH</c> names, with the
/// conventions of Rust's <c>tch</c> crate: <c>LIBTORCH=DIR</c> is a folder holding
/// <c>libtorch.so</c> (or a libtorch distribution whose <c>lib/</c> does), and
/// <c>LIBTORCH_USE_PYTORCH=1</c> asks the <c>python3</c> on the PATH where its
/// <c>torch/lib</c> is. With neither, the build's own libtorch is used (null).
/// </summary>
public static class LibTorchLocator
{
    /// <summary>Names a libtorch folder.</summary>
    public const string FolderVariable = "LIBTORCH";
    /// <summary>1: take the libtorch of the python3 on the PATH.</summary>
    public const string PythonVariable = "LIBTORCH_USE_PYTORCH";

    /// <summary>How long <c>python3</c> may take to say where torch is.</summary>
    public static readonly TimeSpan PythonTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The libraries every libtorch has; CUDA ones are optional.</summary>
    public static readonly IReadOnlyList<string> RequiredLibraries = ["libc10.so", "libtorch_cpu.so", "libtorch.so"];

    private const string AskPython = "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))";

    /// <exception cref="LibTorchSetupException">The setting names no usable libtorch.</exception>
    public static LibTorchLocation? FromEnvironment(Func<string, string?> environment)
    {
        if (environment(FolderVariable) is { Length: > 0 } folder)
        {
            return Inspect(folder, FolderVariable);
        }
        if (environment(PythonVariable) is { Length: > 0 } flag && flag.Trim() is not ("0" or "false" or "False" or "FALSE"))
        {
            return Inspect(PythonTorchLibraries(), PythonVariable);
        }
        return null;
    }

    /// <summary>Checks that <paramref name="folder"/> (or its <c>lib/</c>) is a libtorch.</summary>
    public static LibTorchLocation Inspect(string folder, string variable)
    {
        var setting = variable == PythonVariable ? $"{PythonVariable}=1 (python3 named {folder})" : $"{FolderVariable}={folder}";
        string full;
        try
        {
            full = Path.GetFullPath(folder);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new LibTorchSetupException($"{setting}: not a usable folder path");
        }
        if (!Directory.Exists(full))
        {
            throw new LibTorchSetupException($"{setting}: the folder does not exist");
        }
        var libraries = File.Exists(Path.Combine(full, "lib", "libtorch.so")) ? Path.Combine(full, "lib") : full;
        string[] present;
        try
        {
            present = Directory.GetFiles(libraries).Select(Path.GetFileName).OfType<string>().ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LibTorchSetupException($"{setting}: the folder cannot be read ({e.GetType().Name})");
        }
        foreach (var required in RequiredLibraries)
        {
            if (!present.Contains(required, StringComparer.Ordinal))
            {
                throw new LibTorchSetupException(
                    $"{setting}: not a libtorch folder: {Path.Combine(libraries, required)} is missing (a libtorch folder holds {string.Join(", ", RequiredLibraries)}, in it or in its lib/)");
            }
        }
        var hasCuda = present.Contains("libtorch_cuda.so", StringComparer.Ordinal) && present.Contains("libc10_cuda.so", StringComparer.Ordinal);
        return new LibTorchLocation(libraries, variable, LibTorchVersion.Read(libraries), hasCuda);
    }

    /// <summary>Asks the <c>python3</c> on the PATH for its torch's <c>lib</c> folder, once,
    /// within <see cref="PythonTimeout"/>.</summary>
    private static string PythonTorchLibraries()
    {
        var start = new ProcessStartInfo("python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(AskPython);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new LibTorchSetupException($"{PythonVariable}=1: python3 could not be started");
        }
        catch (Win32Exception)
        {
            throw new LibTorchSetupException($"{PythonVariable}=1: python3 is not on the PATH");
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(PythonTimeout))
            {
                process.Kill(entireProcessTree: true);
                throw new LibTorchSetupException(
                    $"{PythonVariable}=1: python3 did not say where torch is within {PythonTimeout.TotalSeconds:0} s");
            }
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new LibTorchSetupException(
                    $"{PythonVariable}=1: python3 could not import torch (exit code {process.ExitCode}: {LastLine(error.Result)})");
            }
            var folder = output.Result.Trim();
            if (folder.Length == 0 || folder.Contains('\n', StringComparison.Ordinal))
            {
                throw new LibTorchSetupException($"{PythonVariable}=1: python3 did not print one folder");
            }
            return folder;
        }
    }

    private static string LastLine(string text)
    {
        var line = text.TrimEnd().Split('\n')[^1].Trim();
        return line.Length > 200 ? line[..200] + "…" : line.Length == 0 ? "no message" : line;
    }
}
