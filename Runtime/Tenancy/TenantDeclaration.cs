namespace Fabrik.Tenancy;

/// <summary>One entry of the key file's <c>tenants</c> section: the tenant's name, its weight in
/// a model's queue and its quotas.</summary>
internal sealed record TenantDeclaration(string Name, int Weight, TenantLimits Limits);
