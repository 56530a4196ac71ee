namespace Fabrik.Native.LibTorch;

/// <summary>A libtorch outside the build that the process runs TorchScript on.</summary>
/// <param name="Folder">The folder holding <c>libtorch.so</c> and its companions.</param>
/// <param name="Variable">The environment setting that chose it (<c>LIBTORCH</c> or
/// <c>LIBTORCH_USE_PYTORCH</c>), named in every message about it.</param>
/// <param name="Version">Its version (from <c>build-version</c>, PyTorch's <c>version.py</c>
/// or a NuGet package's manifest), or null when none of those says.</param>
/// <param name="HasCudaLibraries">Whether it carries <c>libtorch_cuda.so</c>.</param>
public sealed record LibTorchLocation(string Folder, string Variable, string? Version, bool HasCudaLibraries)
{
    /// <summary>major.minor of <see cref="Version"/>, or null.</summary>
    public string? MajorMinor => Version is null ? null : LibTorchVersion.MajorMinor(Version);
}
