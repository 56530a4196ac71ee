namespace Fabrik.Configuration;

internal enum VersionPolicyKind
{
    Latest,
    All,
    Specific,
}
