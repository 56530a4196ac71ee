
namespace Fabrik.Observability;

/// <summary>Why a request failed, with Triton's names for the <c>reason</c> label.</summary>
internal enum FailureReason
{
    /// <summary>Refused by the queue: full, or its queue timeout passed.</summary>
    Rejected,

    /// <summary>The client went away while the request waited.</summary>
    Canceled,

    /// <summary>The model's execution failed.</summary>
    Backend,

    /// <summary>Anything else, such as an input that failed validation.</summary>
    Other,
}
