namespace Fabrik.Tenancy;

/// <summary>Usage counters at one moment, or the difference between two moments.</summary>
internal readonly record struct UsageTotals(long Requests, long Rows, long Failures, long ComputeMicroseconds, long BytesIn, long BytesOut)
{
    public bool IsZero => this == default;

    public static UsageTotals operator +(UsageTotals a, UsageTotals b) =>
        new(a.Requests + b.Requests, a.Rows + b.Rows, a.Failures + b.Failures, a.ComputeMicroseconds + b.ComputeMicroseconds, a.BytesIn + b.BytesIn, a.BytesOut + b.BytesOut);

    public static UsageTotals operator -(UsageTotals a, UsageTotals b) =>
        new(a.Requests - b.Requests, a.Rows - b.Rows, a.Failures - b.Failures, a.ComputeMicroseconds - b.ComputeMicroseconds, a.BytesIn - b.BytesIn, a.BytesOut - b.BytesOut);
}
