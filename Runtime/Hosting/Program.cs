namespace Fabrik.Hosting;

/// <summary>The fabrik executable.</summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args is ["devices"])
        {
            Console.Write(Devices.DeviceReport.Describe(Native.GpuInventory.Query()));
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
}
