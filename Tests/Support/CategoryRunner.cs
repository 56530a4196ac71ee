using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>
/// Runs the facts of one test category (classes marked <c>[Trait("Category", name)]</c>) by
/// reflection, for a self-contained publish on a host without the SDK. It covers what those
/// classes use: <c>[Fact]</c> and its subclasses with their skip reasons, parameterless
/// constructors, synchronous and asynchronous methods, and disposal. Exit code 0 when nothing
/// failed, 1 when a test failed, 3 when every test was skipped (nothing was checked).
/// </summary>
internal static class CategoryRunner
{
    public static async Task<int> RunAsync(Assembly assembly, string category, TextWriter output)
    {
        int passed = 0, failed = 0, skipped = 0;
        var classes = assembly.GetTypes()
            .Where(type => type.GetCustomAttributesData().Any(attribute => attribute.AttributeType == typeof(TraitAttribute)
                && attribute.ConstructorArguments is [{ Value: "Category" }, { Value: string value }] && value == category))
            .OrderBy(type => type.FullName, StringComparer.Ordinal);
        foreach (var type in classes)
        {
            foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Instance).OrderBy(method => method.Name, StringComparer.Ordinal))
            {
                if (method.GetCustomAttribute<FactAttribute>() is not { } fact)
                {
                    continue;
                }
                var name = $"{type.Name}.{method.Name}";
                if (fact.Skip is { } reason)
                {
                    skipped++;
                    await output.WriteLineAsync($"SKIP {name}: {reason}");
                    continue;
                }
                var clock = Stopwatch.StartNew();
                try
                {
                    var instance = Activator.CreateInstance(type)!;
                    try
                    {
                        if (method.Invoke(instance, null) is Task task)
                        {
                            await task;
                        }
                    }
                    finally
                    {
                        await DisposeAsync(instance);
                    }
                    passed++;
                    await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"PASS {name} ({clock.Elapsed.TotalSeconds:F1} s)"));
                }
                catch (Exception e)
                {
                    failed++;
                    var error = e is TargetInvocationException { InnerException: { } inner } ? inner : e;
                    await output.WriteLineAsync($"FAIL {name}: {error}");
                }
            }
        }
        await output.WriteLineAsync($"category {category}: {passed} passed, {failed} failed, {skipped} skipped");
        return failed > 0 ? 1 : passed == 0 ? 3 : 0;
    }

    private static async Task DisposeAsync(object instance)
    {
        switch (instance)
        {
            case IAsyncDisposable asyncDisposable:
                await asyncDisposable.DisposeAsync();
                break;
            case IDisposable disposable:
                disposable.Dispose();
                break;
        }
    }
}
