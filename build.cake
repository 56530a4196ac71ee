// Build script: `dotnet tool restore` once, then `dotnet cake [--target=Test]`.
// Targets: Build, Test (default), Benchmarks, Publish. --accelerator=cuda selects the GPU
// packages, which restore only where the full NuGet registry is reachable (the Docker build).

var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var accelerator = Argument("accelerator", "cpu");
var solution = "./Fabrik.slnx";

DotNetMSBuildSettings MSBuild() => new DotNetMSBuildSettings().WithProperty("Accelerator", accelerator);

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

Task("Publish")
    .Does(() => DotNetPublish("./Runtime/Runtime.csproj", new DotNetPublishSettings
    {
        Configuration = configuration,
        Runtime = "linux-x64",
        SelfContained = true,
        OutputDirectory = $"./artifacts/publish/{accelerator}",
        MSBuildSettings = MSBuild(),
    }));

RunTarget(target);
