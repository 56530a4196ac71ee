namespace Fabrik.Tests.Support;

/// <summary>One metric family of a parsed exposition: its name, its type as the text gives it
/// (<c>untyped</c> or <c>unknown</c> where no TYPE line names one), its help text (empty where
/// there is none) and its samples in the order written.</summary>
public sealed record PrometheusFamily(string Name, string Type, string Help, IReadOnlyList<PrometheusSample> Samples);
