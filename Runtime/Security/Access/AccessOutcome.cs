namespace Fabrik.Security.Access;

/// <summary>What <see cref="AccessControl.Check"/> decided.</summary>
internal enum AccessOutcome
{
    Allowed,

    /// <summary>No key, or one the key file does not hold: HTTP 401, gRPC UNAUTHENTICATED.</summary>
    Unauthenticated,

    /// <summary>A known caller without the scope: HTTP 403, gRPC PERMISSION_DENIED.</summary>
    Forbidden,

    /// <summary>Too many failures from this client: HTTP 429, gRPC RESOURCE_EXHAUSTED.</summary>
    RateLimited,
}
