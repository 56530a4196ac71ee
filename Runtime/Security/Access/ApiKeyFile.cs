using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Fabrik.Tenancy;

namespace Fabrik.Security.Access;

/// <summary>
/// The parsed --auth-keys file: <c>{"keys": [{"id": "ci", "sha256": "&lt;hex&gt;", "scopes": [...]}]}</c>,
/// where an entry may name <c>"subject": "CN=..."</c> (a client certificate) instead of a hash,
/// and <c>"tenant": "name"</c>, a tenant the file's <c>"tenants"</c> section declares (<see cref="TenantSection"/>).
/// </summary>
internal sealed class ApiKeyFile
{
    private static readonly string[] KnownScopes = ["metadata", "stats", "repository", "metrics", "shared-memory", "admin"];

    /// <summary>Longest certificate subject looked up without a heap buffer.</summary>
    private const int StackSubjectLength = 512;

    /// <summary>Each mapped subject, normalised, to its entry (the first one where two repeat it);
    /// read through a span lookup, so a certificate caller costs no allocation.</summary>
    private readonly Dictionary<string, ApiKey> _bySubject = new(StringComparer.Ordinal);

    private ApiKeyFile(ImmutableArray<ApiKey> keys, ImmutableArray<TenantDeclaration> tenants)
    {
        Keys = keys;
        Tenants = tenants;
        foreach (var key in keys)
        {
            if (key.Subject is not null)
            {
                _bySubject.TryAdd(Normalize(key.Subject), key);
            }
        }
    }

    public ImmutableArray<ApiKey> Keys { get; }

    /// <summary>The tenants the file declares (empty when it has no <c>"tenants"</c> section).</summary>
    public ImmutableArray<TenantDeclaration> Tenants { get; }

    /// <summary>Applies the file's tenants to <paramref name="registry"/> and returns the file with
    /// each key's tenant resolved (none when the file declares no tenants).</summary>
    public ApiKeyFile BindTenants(TenantRegistry registry)
    {
        var byName = registry.Apply(Tenants);
        if (Tenants.IsEmpty)
        {
            return this;
        }
        var bound = ImmutableArray.CreateBuilder<ApiKey>(Keys.Length);
        foreach (var key in Keys)
        {
            bound.Add(key with { Tenant = key.TenantName is { } name ? byName[name] : registry.OwnTenant(key.Id) });
        }
        return new ApiKeyFile(bound.MoveToImmutable(), Tenants);
    }

    /// <summary>Parses the file's text.</summary>
    /// <exception cref="FormatException">What is wrong, by entry (never the key material).</exception>
    public static ApiKeyFile Parse(string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new FormatException($"not valid JSON (line {e.LineNumber + 1})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException("expected an object with a \"keys\" array");
            }
            var parsed = ImmutableArray.CreateBuilder<ApiKey>();
            var index = 0;
            foreach (var entry in keys.EnumerateArray())
            {
                parsed.Add(ParseEntry(entry, index++));
            }
            var duplicate = parsed.GroupBy(key => key.Id).FirstOrDefault(group => group.Count() > 1);
            if (duplicate is not null)
            {
                throw new FormatException($"key id '{duplicate.Key}' appears more than once");
            }
            var tenants = document.RootElement.TryGetProperty("tenants", out var section) ? TenantSection.Parse(section) : [];
            CheckTenantNames(parsed, tenants);
            return new ApiKeyFile(parsed.ToImmutable(), tenants);
        }
    }

    /// <summary>Every tenant a key names is declared, and no key without one (its own tenant,
    /// named by its id) takes a declared tenant's name.</summary>
    private static void CheckTenantNames(IEnumerable<ApiKey> keys, ImmutableArray<TenantDeclaration> tenants)
    {
        var declared = tenants.Select(tenant => tenant.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (key.TenantName is { } name && !declared.Contains(name))
            {
                throw new FormatException($"key '{key.Id}' names tenant '{name}', which the file's \"tenants\" section does not declare");
            }
            if (key.TenantName is null && declared.Contains(key.Id))
            {
                throw new FormatException($"key '{key.Id}' names no tenant, so it is a tenant of its own by its id, which a declared tenant already has");
            }
        }
    }

    private static ApiKey ParseEntry(JsonElement entry, int index)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"keys[{index}] is not an object");
        }
        var id = OptionalString(entry, "id", index) ?? throw new FormatException($"keys[{index}] has no \"id\"");
        var hash = OptionalString(entry, "sha256", index);
        var subject = OptionalString(entry, "subject", index);
        if ((hash is null) == (subject is null))
        {
            throw new FormatException($"key '{id}' needs exactly one of \"sha256\" and \"subject\"");
        }
        if (subject is not null && Normalize(subject).Length == 0)
        {
            // It would match a certificate whose subject is empty.
            throw new FormatException($"key '{id}': \"subject\" names no relative name (for example \"CN=client, O=Site\")");
        }
        byte[]? digest = null;
        if (hash is not null)
        {
            try
            {
                digest = Convert.FromHexString(hash);
            }
            catch (FormatException)
            {
                digest = null;
            }
            if (digest is not { Length: 32 })
            {
                throw new FormatException($"key '{id}': \"sha256\" must be 64 hex digits (the SHA-256 of the key, never the key itself)");
            }
        }
        if (!entry.TryGetProperty("scopes", out var scopes) || scopes.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException($"key '{id}' has no \"scopes\" array");
        }
        var granted = ImmutableArray.CreateBuilder<string>();
        foreach (var scope in scopes.EnumerateArray())
        {
            var text = scope.ValueKind == JsonValueKind.String ? scope.GetString()! : throw new FormatException($"key '{id}': scopes must be strings");
            if (!KnownScopes.Contains(text) && !(text.StartsWith("infer:", StringComparison.Ordinal) && text.Length > 6))
            {
                throw new FormatException($"key '{id}': unknown scope '{text}' (infer:<model glob>, metadata, stats, repository, metrics, shared-memory, admin)");
            }
            granted.Add(text);
        }
        var tenant = OptionalString(entry, "tenant", index);
        if (tenant is not null && !TenantSection.IsValidName(tenant))
        {
            throw new FormatException($"key '{id}': \"tenant\" is not a valid tenant name");
        }
        return new ApiKey(id, digest, subject, granted.ToImmutable()) { TenantName = tenant };
    }

    private static string? OptionalString(JsonElement entry, string name, int index) =>
        !entry.TryGetProperty(name, out var value) ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw new FormatException($"keys[{index}].{name} must be a string");

    /// <summary>The entry whose hash equals the SHA-256 of <paramref name="presented"/>. Every
    /// entry is compared, each in constant time, so the time says nothing about which matched.</summary>
    public ApiKey? FindByKey(ReadOnlySpan<char> presented)
    {
        Span<byte> digest = stackalloc byte[32];
        var utf8 = Encoding.UTF8.GetByteCount(presented);
        byte[]? rented = null;
        Span<byte> bytes = utf8 <= 256 ? stackalloc byte[256] : (rented = System.Buffers.ArrayPool<byte>.Shared.Rent(utf8));
        var written = Encoding.UTF8.GetBytes(presented, bytes);
        SHA256.HashData(bytes[..written], digest);
        CryptographicOperations.ZeroMemory(bytes[..written]);
        if (rented is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
        ApiKey? found = null;
        foreach (var key in Keys)
        {
            if (key.Sha256 is not null && CryptographicOperations.FixedTimeEquals(key.Sha256, digest))
            {
                found = key;
            }
        }
        return found;
    }

    /// <summary>The entry mapped to a client certificate's subject (as .NET writes it, e.g. "CN=client, O=Site").</summary>
    public ApiKey? FindBySubject(string subject)
    {
        if (_bySubject.Count == 0)
        {
            return null;
        }
        // The normalised form is never longer than the subject.
        var buffer = subject.Length <= StackSubjectLength ? stackalloc char[StackSubjectLength] : new char[subject.Length];
        var normalized = Normalize(subject, buffer);
        return _bySubject.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(normalized, out var key) ? key : null;
    }

    /// <summary>The subject's relative names, trimmed, joined by ',' without spaces, empty ones left out.</summary>
    private static string Normalize(string subject)
    {
        var buffer = new char[subject.Length];
        return new string(Normalize(subject, buffer));
    }

    private static ReadOnlySpan<char> Normalize(ReadOnlySpan<char> subject, Span<char> buffer)
    {
        var length = 0;
        foreach (var range in subject.Split(','))
        {
            var part = subject[range].Trim();
            if (part.IsEmpty)
            {
                continue;
            }
            if (length > 0)
            {
                buffer[length++] = ',';
            }
            part.CopyTo(buffer[length..]);
            length += part.Length;
        }
        return buffer[..length];
    }
}
