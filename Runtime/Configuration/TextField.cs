namespace Fabrik.Configuration;

/// <summary>One field occurrence: a scalar or a nested message. Repeated fields occur several
/// times; a list <c>[a, b]</c> becomes one occurrence per element.</summary>
internal sealed record TextField(string Name, TextPosition Position, TextScalar? Scalar, TextMessage? Message);
