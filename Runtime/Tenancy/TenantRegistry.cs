using System.Collections.Concurrent;
using System.Collections.Immutable;

namespace Fabrik.Tenancy;

/// <summary>
/// The server's tenants: one <see cref="Tenant"/> per declared name, and one per key id for keys
/// that name no tenant, each kept for the server's life so that a reload changes settings in place
/// and usage survives it. The number of instances is bounded by the names and key ids the key
/// files have held; callers with unknown keys never reach a tenant.
/// </summary>
/// <remarks>Thread-safe: <see cref="Apply"/> runs when the key file is read, readers enumerate snapshots.</remarks>
internal sealed class TenantRegistry(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Tenant> _declared = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Tenant> _ownTenants = new(StringComparer.Ordinal);
    private volatile bool _active;

    /// <summary>Whether the current key file declares tenants (otherwise requests carry none).</summary>
    public bool Active => _active;

    /// <summary>Applies a key file's tenants: settings in place for the names already known.
    /// Returns the tenant of each name.</summary>
    public ImmutableDictionary<string, Tenant> Apply(ImmutableArray<TenantDeclaration> declarations)
    {
        var byName = ImmutableDictionary.CreateBuilder<string, Tenant>(StringComparer.Ordinal);
        foreach (var declaration in declarations)
        {
            var tenant = _declared.GetOrAdd(declaration.Name, name => new Tenant(name, declared: true, time));
            tenant.Apply(declaration.Weight, declaration.Limits);
            byName[declaration.Name] = tenant;
        }
        _active = declarations.Length > 0;
        return byName.ToImmutable();
    }

    /// <summary>The tenant of a key that names none: its own, named by the key id, weight 1, no quotas.</summary>
    public Tenant OwnTenant(string keyId) => _ownTenants.GetOrAdd(keyId, id => new Tenant(id, declared: false, time));

    /// <summary>Every tenant there has been, declared ones first.</summary>
    public IEnumerable<Tenant> All => _declared.Values.Concat(_ownTenants.Values);

    /// <summary>The declared tenant called <paramref name="name"/>, if there is one.</summary>
    public Tenant? Find(string name) => _declared.GetValueOrDefault(name);

    /// <summary>Usage since start per tenant label and model (keys without a tenant summed under
    /// <see cref="Tenant.UndeclaredLabel"/>), ordered by label then model.</summary>
    public List<(string Tenant, string Model, UsageTotals Totals)> UsageByLabel()
    {
        var sums = new SortedDictionary<(string, string), UsageTotals>();
        foreach (var tenant in All)
        {
            foreach (var (model, usage) in tenant.Models)
            {
                var key = (tenant.Label, model);
                sums[key] = sums.GetValueOrDefault(key) + usage.Read();
            }
        }
        return [.. sums.Select(entry => (entry.Key.Item1, entry.Key.Item2, entry.Value))];
    }

    /// <summary>In flight, waiting and refused per tenant label, ordered by label.</summary>
    public List<(string Tenant, long InFlight, long Waiting, long Rate, long Concurrency, long Compute)> StateByLabel()
    {
        var sums = new SortedDictionary<string, (long InFlight, long Waiting, long Rate, long Concurrency, long Compute)>(StringComparer.Ordinal);
        foreach (var tenant in All)
        {
            var (rate, concurrency, compute) = tenant.Refused;
            var sum = sums.GetValueOrDefault(tenant.Label);
            sums[tenant.Label] = (sum.InFlight + tenant.InFlight, sum.Waiting + tenant.Waiting, sum.Rate + rate, sum.Concurrency + concurrency, sum.Compute + compute);
        }
        return [.. sums.Select(entry => (entry.Key, entry.Value.InFlight, entry.Value.Waiting, entry.Value.Rate, entry.Value.Concurrency, entry.Value.Compute))];
    }
}
