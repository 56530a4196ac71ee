using System.Text.Json.Nodes;

namespace Fabrik.Testing;

/// <summary>
/// The requests and expected outputs that models/generate.py stored next to each model. The
/// expected values were computed in Python (NumPy / PyTorch), not by Fabrik.
/// </summary>
public static class Samples
{
    public static readonly string[] ModelNames = ["simple", "mlp", "mlp_torch", "strings", "identity", "cnn"];

    /// <summary>Every model of the sample repository: those with samples, and <c>embedder</c>,
    /// whose reference vectors the tests compute themselves.</summary>
    public static readonly string[] RepositoryModelNames = [.. ModelNames, "embedder"];

    /// <summary>Every (model, sample index) pair, for xunit theories.</summary>
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
