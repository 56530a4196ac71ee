using System.Collections.Immutable;
using System.Text.Json;

namespace Fabrik.Tenancy;

/// <summary>
/// Reads the key file's <c>tenants</c> section:
/// <c>[{"name": "acme", "weight": 1, "requests_per_second": 5, "burst": 10, "max_in_flight": 4,
/// "max_queued": 16, "compute_ms_per_minute": 6000}]</c>, every field but the name optional.
/// </summary>
internal static class TenantSection
{
    /// <summary>The longest tenant name (it becomes a metric label and a usage-record field).</summary>
    public const int MaxNameLength = 64;

    private static readonly string[] Fields = ["name", "weight", "requests_per_second", "burst", "max_in_flight", "max_queued", "compute_ms_per_minute"];

    /// <summary>Parses the section.</summary>
    /// <exception cref="FormatException">What is wrong, naming the entry.</exception>
    public static ImmutableArray<TenantDeclaration> Parse(JsonElement tenants)
    {
        if (tenants.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException("\"tenants\" must be an array");
        }
        var parsed = ImmutableArray.CreateBuilder<TenantDeclaration>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var entry in tenants.EnumerateArray())
        {
            var declaration = ParseEntry(entry, index++);
            if (!names.Add(declaration.Name))
            {
                throw new FormatException($"tenant '{declaration.Name}' appears more than once");
            }
            parsed.Add(declaration);
        }
        return parsed.ToImmutable();
    }

    private static TenantDeclaration ParseEntry(JsonElement entry, int index)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"tenants[{index}] is not an object");
        }
        if (!entry.TryGetProperty("name", out var nameValue) || nameValue.ValueKind != JsonValueKind.String)
        {
            throw new FormatException($"tenants[{index}] has no \"name\" string");
        }
        var name = nameValue.GetString()!;
        if (!IsValidName(name))
        {
            throw new FormatException($"tenants[{index}]: a name is 1 to {MaxNameLength} letters, digits, '.', '_' or '-'");
        }
        if (name == Tenant.UndeclaredLabel)
        {
            throw new FormatException($"tenants[{index}]: '{Tenant.UndeclaredLabel}' is the name keys without a tenant are counted under");
        }
        foreach (var property in entry.EnumerateObject())
        {
            if (!Fields.Contains(property.Name))
            {
                throw new FormatException($"tenant '{name}': unknown field '{Clip(property.Name)}' ({string.Join(", ", Fields)})");
            }
        }
        var weight = Integer(entry, "weight", name, 1, 1000) ?? 1;
        var rate = Number(entry, "requests_per_second", name);
        var burst = Integer(entry, "burst", name, 1, 1_000_000);
        var inFlight = Integer(entry, "max_in_flight", name, 1, 1_000_000);
        var queued = Integer(entry, "max_queued", name, 0, 1_000_000);
        var compute = Integer(entry, "compute_ms_per_minute", name, 1, 60L * 60 * 1000 * 1024);
        if (burst is not null && rate is null)
        {
            throw new FormatException($"tenant '{name}': \"burst\" needs \"requests_per_second\"");
        }
        if (queued is not null && inFlight is null)
        {
            throw new FormatException($"tenant '{name}': \"max_queued\" needs \"max_in_flight\" (requests wait only for an in-flight slot)");
        }
        return new TenantDeclaration(name, (int)weight, new TenantLimits(rate, (int?)burst, (int?)inFlight, (int?)queued, compute));
    }

    /// <summary>Letters, digits, '.', '_' and '-', 1 to <see cref="MaxNameLength"/> of them.</summary>
    public static bool IsValidName(string name)
    {
        if (name.Length is 0 or > MaxNameLength)
        {
            return false;
        }
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return false;
            }
        }
        return true;
    }

    private static long? Integer(JsonElement entry, string field, string tenant, long min, long max)
    {
        if (!entry.TryGetProperty(field, out var value))
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var number) || number < min || number > max)
        {
            throw new FormatException($"tenant '{tenant}': \"{field}\" must be an integer from {min} to {max}");
        }
        return number;
    }

    private static double? Number(JsonElement entry, string field, string tenant)
    {
        if (!entry.TryGetProperty(field, out var value))
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || !(number > 0) || number > 1_000_000)
        {
            throw new FormatException($"tenant '{tenant}': \"{field}\" must be a number above 0 and at most 1000000");
        }
        return number;
    }

    private static string Clip(string text) => text.Length <= 40 ? text : text[..40] + "...";
}
