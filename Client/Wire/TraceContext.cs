using System.Diagnostics;

namespace Fabrik.Client.Wire;

/// <summary>The caller's W3C trace context (<c>traceparent</c>, <c>tracestate</c>) from
/// <see cref="Activity.Current"/>, so the server's spans continue the caller's trace.</summary>
internal static class TraceContext
{
    public const string TraceParent = "traceparent";
    public const string TraceState = "tracestate";

    /// <summary>The current activity's traceparent and tracestate; false when there is no current
    /// activity or it does not use W3C ids.</summary>
    public static bool TryGet(out string traceParent, out string? traceState)
    {
        var activity = Activity.Current;
        if (activity is { IdFormat: ActivityIdFormat.W3C, Id: { } id })
        {
            traceParent = id;
            traceState = activity.TraceStateString;
            return true;
        }
        traceParent = "";
        traceState = null;
        return false;
    }
}
