using Fabrik.Testing.Load;
using Fabrik.Tests.Support;

namespace Fabrik.Tests;

/// <summary>
/// <c>dotnet test</c> never calls this (its test host loads the assembly). A self-contained publish
/// of this project runs it, so a host without the .NET SDK can run one category of tests:
/// <c>Fabrik.Tests --category Gpu</c> (Benchmarks/gpu-check.sh does). <c>Fabrik.Tests load ...</c>
/// runs the load generator, the same command as <c>Fabrik.Benchmarks load</c>, so the Slurm script
/// test drives it from the tests' own output without the benchmarks project.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args is ["load", ..])
        {
            return LoadCommand.Run(args[1..]);
        }
        if (args is not ["--category", var category])
        {
            await Console.Error.WriteLineAsync("usage: Fabrik.Tests --category <name>   (runs the tests with [Trait(\"Category\", name)]; use dotnet test otherwise)");
            return 2;
        }
        return await CategoryRunner.RunAsync(typeof(Program).Assembly, category, Console.Out);
    }
}
