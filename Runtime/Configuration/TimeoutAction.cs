namespace Fabrik.Configuration;

/// <summary>What happens to a request whose queue timeout expires.</summary>
internal enum TimeoutAction
{
    /// <summary>Answer at once with "Request timeout expired".</summary>
    Reject,

    /// <summary>Keep it, behind every request that has not timed out.</summary>
    Delay,
}
