using System.Text.Json.Nodes;

namespace Fabrik.Testing;

/// <summary>
/// The requests and expected outputs that models/generate.py stored next to each model. The
/// expected values were computed in Python (NumPy / PyTorch), not by Fabrik.
/// </summary>
public static class Samples
{
    /// <summary>The stateless sample models, whose samples are independent requests.</summary>
    public static readonly string[] ModelNames = ["simple", "mlp", "mlp_torch", "strings", "identity", "cnn", "simple_chain"];

    /// <summary>The stateful sample models (sequence_batching): each one's samples are one
    /// sequence, sent in order with their request parameters.</summary>
    public static readonly string[] SequenceModelNames = ["sequence_accumulator", "sequence_accumulator_torch", "sequence_controls"];

    /// <summary>Every model in the sample repository: those with samples, <c>embedder</c>, whose
    /// reference vectors the tests compute themselves, and <c>image_pool</c> (ResNet-50's input
    /// reduced to channel means), whose megabyte-sized inputs would make a sample too large.</summary>
    public static IEnumerable<string> AllModelNames => ModelNames.Concat(SequenceModelNames).Append("embedder").Append("image_pool");

    /// <summary>Every (model, sample index) pair of the stateless models, for xunit theories.</summary>
    public static IEnumerable<object[]> All()
    {
        foreach (var model in ModelNames)
        {
            var count = Load(model)["samples"]!.AsArray().Count;
            for (var i = 0; i < count; i++)
            {
                yield return [model, i];
            }
        }
    }

    public static JsonObject Load(string model) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(RepositoryLayout.Models, model, "samples.json")))!.AsObject();

    public static JsonObject Sample(string model, int index) => Load(model)["samples"]![index]!.AsObject();
}
