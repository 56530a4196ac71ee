using System.Text.Json;
using Fabrik.Security.Access;
using Fabrik.Tenancy;

namespace Fabrik.Protocol.Http;

/// <summary>
/// <c>GET /v2/tenants/usage</c>: what each tenant used of each model since the server started.
/// A caller sees only its own tenant (a key without a declared tenant: only its own requests);
/// a key with the <c>admin</c> scope sees every tenant. Without API keys there are no tenants and
/// the list is empty.
/// </summary>
internal sealed class TenantUsageEndpoint(AccessControl access)
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false };

    public void Map(IEndpointRouteBuilder routes) => routes.MapGet("/v2/tenants/usage", WriteAsync);

    private async Task WriteAsync(HttpContext context)
    {
        // The access middleware leaves the caller's key here; without keys nobody has a tenant.
        var key = context.Features.Get<ApiKey>();
        List<(string Tenant, string Model, UsageTotals Totals)> rows = key switch
        {
            null => [],
            { IsAdmin: true } => access.Tenants.UsageByLabel(),
            { Tenant: { } own } => [.. own.Models.OrderBy(entry => entry.Key, StringComparer.Ordinal).Select(entry => (own.Label, entry.Key, entry.Value.Read()))],
            _ => [],
        };
        context.Response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteStartArray("tenants"u8);
            foreach (var tenant in rows.GroupBy(row => row.Tenant))
            {
                json.WriteStartObject();
                json.WriteString("name"u8, tenant.Key);
                json.WriteStartArray("models"u8);
                foreach (var (_, model, totals) in tenant)
                {
                    json.WriteStartObject();
                    json.WriteString("model"u8, model);
                    json.WriteNumber("requests"u8, totals.Requests);
                    json.WriteNumber("rows"u8, totals.Rows);
                    json.WriteNumber("failures"u8, totals.Failures);
                    json.WriteNumber("compute_us"u8, totals.ComputeMicroseconds);
                    json.WriteNumber("bytes_in"u8, totals.BytesIn);
                    json.WriteNumber("bytes_out"u8, totals.BytesOut);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }
}
