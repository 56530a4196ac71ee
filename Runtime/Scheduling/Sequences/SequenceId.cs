using System.Globalization;

namespace Fabrik.Scheduling.Sequences;

/// <summary>A sequence's correlation id, as the client sent it: a non-zero unsigned integer or a
/// non-empty string (Triton's two kinds; 12 and "12" are different sequences).</summary>
internal readonly record struct SequenceId(ulong Number, string? Text)
{
    public bool IsText => Text is not null;

    public override string ToString() => Text ?? Number.ToString(CultureInfo.InvariantCulture);
}
