namespace Fabrik.Configuration;

/// <summary>Where a token starts in the source text (1-based).</summary>
internal readonly record struct TextPosition(int Line, int Column)
{
    public override string ToString() => $"line {Line}, column {Column}";
}
