namespace Fabrik.Configuration;

/// <summary>A scalar token: a quoted string, a number, or an identifier (enum value, true/false).</summary>
internal sealed record TextScalar(TextScalarKind Kind, string Text);
