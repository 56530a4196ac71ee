using Xunit;

namespace Fabrik.Tests.Tenancy;

/// <summary>Tests that measure the process's heap: run one at a time after the parallel collections.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TenantMemoryCollection
{
    public const string Name = "Tenant memory";
}
