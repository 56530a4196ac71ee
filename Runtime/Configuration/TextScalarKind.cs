namespace Fabrik.Configuration;

internal enum TextScalarKind
{
    String,
    Number,
    Identifier,
}
