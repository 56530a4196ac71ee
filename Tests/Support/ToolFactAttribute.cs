using Fabrik.Testing.Load;
using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>A test that runs a command-line tool (wrk, h2load). Where it is not on PATH the test
/// is skipped, and the skip message says how to install it.</summary>
public sealed class ToolFactAttribute : FactAttribute
{
    public ToolFactAttribute(string tool)
    {
        if (ExternalClients.Missing(tool) is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <inheritdoc cref="ToolFactAttribute"/>
public sealed class ToolTheoryAttribute : TheoryAttribute
{
    public ToolTheoryAttribute(string tool)
    {
        if (ExternalClients.Missing(tool) is { } reason)
        {
            Skip = reason;
        }
    }
}
