// Build script: `dotnet tool restore` once, then `dotnet cake [--target=Test]`.
// Targets: Build, Test (default), Benchmarks, Publish, PublishLoadGenerator, Bundle.
// --build-version=<x.y.z> stamps the assemblies, the SBOM and the bundle name.
// --accelerator=cuda selects ONNX Runtime GPU (TorchSharp keeps its CPU libtorch);
// --torchsharp-cuda=true adds TorchSharp's CUDA libtorch, which restores only where the full NuGet
// registry is reachable (the Docker build). --bundle-libtorch=false leaves TorchSharp's own libtorch
// out, for hosts that bring theirs (LIBTORCH, LIBTORCH_USE_PYTORCH: a PyTorch install, an HPC module). --artifacts=<dir> moves every output (default ./artifacts);
// publishes build in <dir>/build, so the checkout's bin and obj folders are left alone.

var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var accelerator = Argument("accelerator", "cpu");
var torchSharpCuda = Argument("torchsharp-cuda", false) && accelerator == "cuda";
var bundleLibTorch = Argument("bundle-libtorch", true);
var version = Argument("build-version", "0.0.0-dev");
var artifacts = MakeAbsolute(Directory(Argument("artifacts", "./artifacts")));
var gzipLevel = Argument("gzip-level", 6);
var solution = "./Fabrik.slnx";
var runtime = "linux-x64";

DotNetMSBuildSettings MSBuild() => new DotNetMSBuildSettings()
    .WithProperty("Accelerator", accelerator)
    .WithProperty("TorchSharpCuda", torchSharpCuda ? "true" : "false")
    .WithProperty("BundleLibTorch", bundleLibTorch ? "true" : "false");

// The cpu and cuda package graphs are pinned (packages.lock.json, packages.cuda.lock.json); with
// TorchSharp's CUDA libtorch the graph can only be resolved where those packages are served, so
// it is recorded (packages.cuda-torch.lock.json) but not enforced.
DotNetMSBuildSettings PublishMSBuild() => MSBuild()
    .WithProperty("RestoreLockedMode", torchSharpCuda ? "false" : "true")
    .WithProperty("Version", version.Split('-')[0])
    .WithProperty("InformationalVersion", version);

void PublishSelfContained(string project, DirectoryPath output) =>
    DotNetPublish(project, new DotNetPublishSettings
    {
        Configuration = configuration,
        Runtime = runtime,
        SelfContained = true,
        OutputDirectory = output,
        MSBuildSettings = PublishMSBuild(),
        ArgumentCustomization = args => args.Append("--artifacts-path").AppendQuoted(artifacts.Combine("build").FullPath),
    });

Task("Build")
    .Does(() => DotNetBuild(solution, new DotNetBuildSettings
    {
        Configuration = configuration,
        MSBuildSettings = MSBuild(),
    }));

Task("Test")
    .IsDependentOn("Build")
    .Does(() => DotNetTest(solution, new DotNetTestSettings
    {
        Configuration = configuration,
        NoBuild = true,
        MSBuildSettings = MSBuild(),
    }));

Task("Benchmarks")
    .Does(() => DotNetRun("./Benchmarks/Fabrik.Benchmarks.csproj", new ProcessArgumentBuilder().Append("--filter").Append("*"), new DotNetRunSettings
    {
        Configuration = "Release",
    }));

// The self-contained server (what the images copy to /opt/fabrik) with its CycloneDX SBOM
// (the CycloneDX tool pinned in dotnet-tools.json; it reads the restored package graph, offline).
Task("Publish")
    .Does(() =>
    {
        var output = artifacts.Combine($"publish/{accelerator}");
        CleanDirectory(output);
        PublishSelfContained("./Runtime/Runtime.csproj", output);
        var sbom = StartProcess("dotnet", new ProcessSettings
        {
            // MSBuild reads environment variables as properties: the tool's own restore then
            // resolves the flavour's packages (the cuda SBOM lists the CUDA packages).
            EnvironmentVariables = new Dictionary<string, string> { ["Accelerator"] = accelerator, ["TorchSharpCuda"] = torchSharpCuda ? "true" : "false" },
            Arguments = new ProcessArgumentBuilder()
                .Append("CycloneDX").AppendQuoted("./Runtime/Runtime.csproj")
                .Append("--framework net10.0").Append($"--runtime {runtime}")
                .Append("--output-format Json").Append("--output").AppendQuoted(output.FullPath)
                .Append("--filename sbom.cdx.json").Append("--set-name fabrik").Append($"--set-version {version}")
                .Append($"--configuration {configuration}"),
        });
        if (sbom != 0)
        {
            throw new Exception($"CycloneDX failed with exit code {sbom}");
        }
    });

// The load generator, self-contained, for cluster runs (deploy/slurm/fabrik.def copies it).
Task("PublishLoadGenerator")
    .Does(() =>
    {
        var output = artifacts.Combine("publish/loadgen");
        CleanDirectory(output);
        PublishSelfContained("./Benchmarks/Fabrik.Benchmarks.csproj", output);
    });

// An air-gapped install: fabrik-<version>-linux-x64-<accelerator>.tar.gz holding the publish and
// its SBOM (fabrik/), the systemd unit and install.sh, with a .sha256 beside it (sha256sum -c).
// --gzip-level=1..9 trades size for time (default 6).
Task("Bundle")
    .IsDependentOn("Publish")
    .Does(() =>
    {
        var name = $"fabrik-{version}-{runtime}-{accelerator}";
        var staging = artifacts.Combine($"bundle/{name}");
        CleanDirectory(staging);
        CopyDirectory(artifacts.Combine($"publish/{accelerator}"), staging.Combine("fabrik"));
        CopyFile("./deploy/systemd/fabrik.service", staging.CombineWithFilePath("fabrik.service"));
        CopyFile("./deploy/systemd/install.sh", staging.CombineWithFilePath("install.sh"));
        var tarball = artifacts.CombineWithFilePath($"{name}.tar.gz");
        // tar keeps the executable bits; --owner/--group make the archive the same on any machine.
        var tar = StartProcess("tar", new ProcessSettings
        {
            Arguments = new ProcessArgumentBuilder()
                .Append("--create --owner=0 --group=0 --numeric-owner")
                .Append("--use-compress-program").AppendQuoted($"gzip -{gzipLevel}")
                .Append("--file").AppendQuoted(tarball.FullPath)
                .Append("--directory").AppendQuoted(artifacts.Combine("bundle").FullPath)
                .AppendQuoted(name),
        });
        if (tar != 0)
        {
            throw new Exception($"tar failed with exit code {tar}");
        }
        var hash = CalculateFileHash(tarball, HashAlgorithm.SHA256).ToHex();
        System.IO.File.WriteAllText(tarball.FullPath + ".sha256", $"{hash}  {tarball.GetFilename()}\n");
        Information($"{tarball} sha256 {hash}");
    });

RunTarget(target);
