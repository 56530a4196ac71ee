namespace Fabrik.Tests.Support;

/// <summary>An exposition that breaks its format's rules: the line (1-based; 0 for the whole
/// text) and the rule.</summary>
public sealed class ExpositionException(int line, string reason) : Exception(line > 0 ? $"line {line}: {reason}" : reason)
{
    public int Line { get; } = line;

    public string Reason { get; } = reason;
}
