namespace Fabrik.Configuration;

/// <summary>Where instances run.</summary>
internal enum InstanceKind
{
    Auto,
    Cpu,
    Gpu,
}
