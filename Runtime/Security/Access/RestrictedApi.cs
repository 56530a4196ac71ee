namespace Fabrik.Security.Access;

/// <summary>
/// Triton's <c>--http-restricted-api=&lt;api list&gt;:&lt;header&gt;=&lt;value&gt;</c> and
/// <c>--grpc-restricted-protocol=...</c>: the listed groups answer only requests that carry the
/// header with the value (over gRPC the metadata key is prefixed <c>triton-grpc-protocol-</c>, as
/// Triton does). Kept so that Triton command lines work; API keys are the stronger mechanism.
/// </summary>
internal sealed record RestrictedApi(IReadOnlySet<ApiGroup> Groups, string Header, string Value)
{
    /// <summary>The prefix Triton puts before the header name in gRPC metadata.</summary>
    public const string GrpcHeaderPrefix = "triton-grpc-protocol-";

    /// <summary>Triton's category names.</summary>
    private static ApiGroup? Category(string name) => name switch
    {
        "health" => ApiGroup.Health,
        "metadata" => ApiGroup.Metadata,
        "inference" => ApiGroup.Inference,
        "model-config" => ApiGroup.ModelConfig,
        "model-repository" => ApiGroup.Repository,
        "statistics" => ApiGroup.Statistics,
        "shared-memory" => ApiGroup.SharedMemory,
        "trace" or "logging" => ApiGroup.Other,
        _ => null,
    };

    /// <summary>Parses <c>&lt;api list&gt;:&lt;header&gt;=&lt;value&gt;</c>.</summary>
    /// <exception cref="ArgumentException">The text does not have that form or names an unknown API.</exception>
    public static RestrictedApi Parse(string flag, string text)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var equals = colon < 0 ? -1 : text.IndexOf('=', colon);
        if (colon <= 0 || equals < 0 || equals == colon + 1)
        {
            throw new ArgumentException($"option --{flag} takes <api list>:<header>=<value>, got '{text}'");
        }
        var groups = new HashSet<ApiGroup>();
        foreach (var name in text[..colon].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            groups.Add(Category(name) ?? throw new ArgumentException(
                $"option --{flag}: unknown API '{name}' (health, metadata, inference, shared-memory, model-config, model-repository, statistics, trace, logging)"));
        }
        return new RestrictedApi(groups, text[(colon + 1)..equals].ToLowerInvariant(), text[(equals + 1)..]);
    }

    /// <summary>Whether a request for <paramref name="group"/> passes the restrictions in
    /// <paramref name="restrictions"/>; <paramref name="header"/> reads a request header by name.
    /// Returns the header that was missing or wrong, or null when the request may go on.</summary>
    public static string? Refusal(IReadOnlyList<RestrictedApi> restrictions, ApiGroup group, Func<string, string?> header)
    {
        foreach (var restriction in restrictions)
        {
            if (restriction.Groups.Contains(group) && !SecretEquality.Equal(header(restriction.Header), restriction.Value))
            {
                return restriction.Header;
            }
        }
        return null;
    }
}
