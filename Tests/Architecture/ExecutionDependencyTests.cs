using ArchUnitNET.Loader;
using ArchUnitNET.xUnit;
using Xunit;
using static ArchUnitNET.Fluent.ArchRuleDefinition;

namespace Fabrik.Tests.Architecture;

/// <summary>
/// Execution reports what a run cost (<c>ExecutionTimings</c>) and the scheduler hands the numbers
/// on to statistics and tracing, so a backend never needs the Observability vocabulary, and
/// Observability (used by every layer) never sees a backend type.
/// </summary>
public sealed class ExecutionDependencyTests
{
    private static readonly ArchUnitNET.Domain.Architecture Compiled =
        new ArchLoader().LoadAssemblies(typeof(Fabrik.Hosting.FabrikServer).Assembly).Build();

    [Fact]
    public void Execution_NeverUsesObservability() =>
        Types().That().ResideInNamespaceOrBelow("Fabrik.Execution").Should()
            .NotDependOnAny(Types().That().ResideInNamespaceOrBelow("Fabrik.Observability"))
            .Because("the scheduler records what an execution reports; backends record nothing themselves")
            .Check(Compiled);

    [Fact]
    public void Observability_NeverUsesExecution() =>
        Types().That().ResideInNamespaceOrBelow("Fabrik.Observability").Should()
            .NotDependOnAny(Types().That().ResideInNamespaceOrBelow("Fabrik.Execution"))
            .Because("Observability is shared vocabulary below every layer")
            .Check(Compiled);
}
