using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Execution;
using Fabrik.Native;
using Xunit;

namespace Fabrik.Tests.Devices;

/// <summary>Instance-group placement against a device inventory (given here, so every host
/// shape can be tested on this one).</summary>
public sealed class DevicePlacementTests
{
    private static readonly GpuInventory TwoGpus = new(
        [new GpuDevice(0, "GPU-a", "Test GPU", 80UL << 30, 1UL << 30, 5), new GpuDevice(1, "GPU-b", "Test GPU", 80UL << 30, 0, 0)],
        "580.00", 13000, null);

    private static readonly GpuInventory NoGpu = GpuInventory.None("no GPU: libnvidia-ml.so.1 could not be loaded");

    private static ModelConfig Config(params InstanceGroupConfig[] groups) =>
        new() { Name = "m", Platform = "onnxruntime_onnx", InstanceGroups = [.. groups] };

    private static InstanceGroupConfig Group(InstanceKind kind, int count = 1, params int[] gpus) => new("g", count, kind, [.. gpus]);

    [Fact]
    public void Place_CpuGroup_PutsCountInstancesOnTheCpu() =>
        Assert.Equal([InstanceDevice.Cpu, InstanceDevice.Cpu, InstanceDevice.Cpu], DevicePlacement.Place(Config(Group(InstanceKind.Cpu, 3)), TwoGpus, 1, true).Instances);

    [Fact]
    public void Place_GpuGroupWithoutGpus_UsesCountPerEveryGpu() =>
        Assert.Equal([new InstanceDevice(0), new InstanceDevice(0), new InstanceDevice(1), new InstanceDevice(1)],
            DevicePlacement.Place(Config(Group(InstanceKind.Gpu, 2)), TwoGpus, 1, true).Instances);

    [Theory]
    [InlineData("onnxruntime_onnx", 2)]
    [InlineData("pytorch_libtorch", 1)]
    public void Place_CpuGroupWithoutCount_TakesTritonsDefaultForTheBackend(string platform, int expected)
    {
        var config = Config(Group(InstanceKind.Auto, InstanceGroupConfig.DefaultCount)) with { Platform = platform };

        var placement = DevicePlacement.Place(config, NoGpu, BackendRegistry.Default.Resolve(config).DefaultCpuInstanceCount, false);

        Assert.Equal(Enumerable.Repeat(InstanceDevice.Cpu, expected), placement.Instances);
        var group = Assert.Single(placement.Groups);
        Assert.Equal((expected, InstanceKind.Cpu), (group.Count, group.Kind));
    }

    [Fact]
    public void Place_GpuGroupWithoutCountOrGpus_PutsOneOnEveryGpuAndListsThem()
    {
        var placement = DevicePlacement.Place(Config(Group(InstanceKind.Auto, InstanceGroupConfig.DefaultCount)), TwoGpus, 1, true);

        Assert.Equal([new InstanceDevice(0), new InstanceDevice(1)], placement.Instances);
        var group = Assert.Single(placement.Groups);
        Assert.Equal((1, InstanceKind.Gpu), (group.Count, group.Kind));
        Assert.Equal([0, 1], group.Gpus.ToArray());
    }

    [Fact]
    public void Place_GpuGroupNamingOneGpu_PinsToIt() =>
        Assert.Equal([new InstanceDevice(1)], DevicePlacement.Place(Config(Group(InstanceKind.Gpu, 1, 1)), TwoGpus, 1, true).Instances);

    [Theory]
    [InlineData("Gpu", new[] { 3 }, true, "names GPU 3, which does not exist: this host has GPU(s) 0, 1")]
    [InlineData("Gpu", new int[0], false, "this build has no CUDA support")]
    [InlineData("Cpu", new[] { 0 }, true, "is KIND_CPU but lists gpus [0]")]
    public void Place_ImpossibleGroup_FailsNamingTheProblem(string kind, int[] gpus, bool buildHasCuda, string message)
    {
        var group = Group(Enum.Parse<InstanceKind>(kind), 1, gpus);
        var error = Assert.Throws<InvalidOperationException>(() => DevicePlacement.Place(Config(group), TwoGpus, 1, buildHasCuda));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Place_TorchScriptOnGpu_FollowsWhetherLibTorchHasCudaNotOnlyOnnxRuntime()
    {
        var config = Config(Group(InstanceKind.Gpu)) with { Platform = "pytorch_libtorch" };
        var backend = BackendRegistry.Default.Resolve(config);
        var libTorchHasCuda = DevicePlacement.LibTorchHasCuda;
        if (libTorchHasCuda)
        {
            Assert.Null(backend.NoGpuReason);
            return;
        }

        // Whatever ONNX Runtime's build, TorchScript reaches a GPU through libtorch alone.
        var error = Assert.Throws<InvalidOperationException>(() => DevicePlacement.Place(config, TwoGpus, 1, false, backend.NoGpuReason));
        Assert.Contains(
            "asks for KIND_GPU, but this build's libtorch is the CPU one: point LIBTORCH at a CUDA libtorch or set LIBTORCH_USE_PYTORCH=1",
            error.Message, StringComparison.Ordinal);

        var auto = DevicePlacement.Place(Config(Group(InstanceKind.Auto)) with { Platform = "pytorch_libtorch" }, TwoGpus, 1, false, backend.NoGpuReason);
        Assert.Equal([InstanceDevice.Cpu], auto.Instances);
        Assert.Contains(backend.NoGpuReason!, Assert.Single(auto.Warnings), StringComparison.Ordinal);
    }

    [Fact]
    public void Place_GpuGroupOnHostWithoutGpu_FailsWithTheInventoryReason()
    {
        var error = Assert.Throws<InvalidOperationException>(() => DevicePlacement.Place(Config(Group(InstanceKind.Gpu)), NoGpu, 1, true));
        Assert.Contains("asks for KIND_GPU, but this host has no GPU (no GPU: libnvidia-ml.so.1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Place_AutoGroup_UsesGpusWhenUsableAndTheCpuOtherwise()
    {
        Assert.Equal([new InstanceDevice(0), new InstanceDevice(1)], DevicePlacement.Place(Config(Group(InstanceKind.Auto)), TwoGpus, 1, true).Instances);
        Assert.Equal([InstanceDevice.Cpu], DevicePlacement.Place(Config(Group(InstanceKind.Auto)), NoGpu, 1, true).Instances);

        var cpuBuild = DevicePlacement.Place(Config(Group(InstanceKind.Auto)), TwoGpus, 1, false);
        Assert.Equal([InstanceDevice.Cpu], cpuBuild.Instances);
        Assert.Contains("no CUDA support", Assert.Single(cpuBuild.Warnings), StringComparison.Ordinal);
    }

    [Fact]
    public void Inventory_OnThisHost_QueriesWithoutThrowing()
    {
        var inventory = GpuInventory.Query();
        Assert.True(inventory.Devices.Count > 0 || inventory.Unavailable is { Length: > 0 }, "an empty inventory must say why");
        Assert.Equal(inventory.Devices.Count, inventory.Devices.Select(device => device.Index).Distinct().Count());
    }
}
