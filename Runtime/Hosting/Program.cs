using Fabrik.Execution;
using Fabrik.Hosting.Commands;
using Fabrik.Native.LibTorch;
using Fabrik.Native.Memory;

namespace Fabrik.Hosting;

/// <summary>The fabrik executable.</summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args is ["devices"])
        {
            if (!TryInitializeLibTorch())
            {
                return 1;
            }
            Console.Write(Devices.DeviceReport.Describe(Native.GpuInventory.Query()));
            foreach (var line in BackendRegistry.DescribeNativeLibraries())
            {
                Console.WriteLine(line);
            }
            return 0;
        }
        if (args is ["probe", .. var probe])
        {
            return await HealthProbe.RunAsync(probe);
        }
        if (SecurityCommands.TryRun(args, Console.Out, Console.Error) is { } exitCode)
        {
            return exitCode;
        }
        if (UsageCommands.TryRun(args, Console.Out, Console.Error) is { } usageExitCode)
        {
            return usageExitCode;
        }
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(ServerOptions.Usage);
            return 0;
        }

        ServerOptions options;
        try
        {
            options = ServerOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"fabrik: {e.Message}");
            return 2;
        }

        // Before the native libraries start their threads, each of which would get an arena.
        NativeHeap.LimitArenas(NativeHeap.DefaultArenaLimit);
        if (!TryInitializeLibTorch())
        {
            return 1;
        }
        FabrikServer server;
        try
        {
            server = await FabrikServer.StartAsync(options);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"fabrik: failed to start: {e.Message}");
            return 1;
        }

        await using (server)
        {
            await server.WaitForShutdownAsync();
        }
        return 0;
    }

    /// <summary>Loads the libtorch that LIBTORCH or LIBTORCH_USE_PYTORCH names before anything
    /// touches TorchSharp; a setting that names no usable libtorch stops the start.</summary>
    private static bool TryInitializeLibTorch()
    {
        try
        {
            BackendRegistry.PrepareNativeLibraries(Environment.GetEnvironmentVariable);
            return true;
        }
        catch (LibTorchSetupException e)
        {
            Console.Error.WriteLine($"fabrik: failed to start: {e.Message}");
            return false;
        }
    }
}
