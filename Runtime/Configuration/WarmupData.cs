namespace Fabrik.Configuration;

/// <summary>Where a warm-up input's data comes from.</summary>
internal enum WarmupData
{
    Zero,
    Random,
    File,
}
