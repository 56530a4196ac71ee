namespace Fabrik.Scheduling.Sequences;

/// <summary>What a request says about its sequence: the id, and whether it starts or ends it.</summary>
internal readonly record struct SequenceFlags(SequenceId Id, bool Start, bool End);
