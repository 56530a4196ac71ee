using Fabrik.Models;
using Xunit;
using static Fabrik.Tests.Ensembles.EnsembleConfigs;

namespace Fabrik.Tests.Ensembles;

/// <summary>
/// Each way an ensemble can fail Triton's checks when it loads makes it UNAVAILABLE with a reason
/// naming the step and the tensor, while the models beside it serve. Each broken ensemble is the
/// working <see cref="EnsembleConfigs.Chain"/> with one change.
/// </summary>
public sealed class EnsembleValidationTests
{
    public static TheoryData<string, string, string, string[]> Broken() => new()
    {
        { "unknown_model", "model_name: \"simple\" model_version: -1", "model_name: \"nope\" model_version: -1", ["step 0 ('nope')", "'nope'"] },
        { "missing_tensor", "key: \"INPUT0\" value: \"sum\"", "key: \"INPUT0\" value: \"total\"", ["step 1 ('simple')", "tensor 'total'", "no step produces"] },
        { "produced_twice", "output_map { key: \"OUTPUT1\" value: \"TWICE_B\" }", "output_map { key: \"OUTPUT1\" value: \"sum\" }", ["tensor 'sum' is produced twice", "step 0 ('simple')", "step 1 ('simple')"] },
        { "cycle", "input_map { key: \"INPUT1\" value: \"B\" }", "input_map { key: \"INPUT1\" value: \"TWICE_B\" }", ["cycle", "'TWICE_B'"] },
        { "datatype", "name: \"A\" data_type: TYPE_INT32", "name: \"A\" data_type: TYPE_FP32", ["step 0 ('simple') input 'INPUT0' (tensor 'A')", "TYPE_INT32", "TYPE_FP32"] },
        { "shape", "name: \"A\" data_type: TYPE_INT32 dims: [ 16 ]", "name: \"A\" data_type: TYPE_INT32 dims: [ 8 ]", ["step 0 ('simple') input 'INPUT0' (tensor 'A')", "[-1,16]", "[-1,8]"] },
        { "unused_input", "input [ {", "input [ { name: \"C\" data_type: TYPE_INT32 dims: [ 16 ] }, {", ["ensemble input 'C' is read by no step"] },
        { "step_model_lacks_tensor", "{ model_name: \"simple\"\n", "{ model_name: \"mlp\"\n", ["step 1 ('mlp')", "input_map names 'INPUT1'"] },
        { "unmapped_input", "input_map { key: \"INPUT1\" value: \"diff\" }", "", ["step 1 ('simple')", "input 'INPUT1'", "fed by nothing"] },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public async Task BrokenEnsemble_IsUnavailableNamingStepAndTensor_OthersServe(string name, string text, string replacement, string[] reasonParts)
    {
        Assert.Contains(text, Chain, StringComparison.Ordinal);
        using var repository = new TemporaryRepository().Add("simple").Add("mlp").AddEnsemble(name, Chain.Replace(text, replacement, StringComparison.Ordinal));
        await using var server = await InMemoryFabrik.StartAsync("--model-repository", repository.Path, "--exit-on-error=false");

        var entry = server.Server.Models.Models[name];
        Assert.Equal(ModelState.Unavailable, entry.State);
        foreach (var part in reasonParts)
        {
            Assert.Contains(part, entry.Reason, StringComparison.Ordinal);
        }
        Assert.Equal(ModelState.Ready, server.Server.Models.Models["simple"].State);
    }

    [Fact]
    public async Task StepOutputFeedingAnInputOfAnotherDatatype_IsRefusedNamingBothEnds()
    {
        // sum (INT32 [16] from simple) into mlp's INPUT0 (FP32 [16]).
        var config = Chain.Replace("{ model_name: \"simple\"\n", "{ model_name: \"mlp\"\n", StringComparison.Ordinal)
            .Replace("input_map { key: \"INPUT1\" value: \"diff\" }\n", "", StringComparison.Ordinal)
            .Replace("output_map { key: \"OUTPUT0\" value: \"TWICE_A\" } output_map { key: \"OUTPUT1\" value: \"TWICE_B\" }", "output_map { key: \"OUTPUT0\" value: \"TWICE_A\" }", StringComparison.Ordinal)
            .Replace("output [ { name: \"TWICE_A\" data_type: TYPE_INT32 dims: [ 16 ] }, { name: \"TWICE_B\" data_type: TYPE_INT32 dims: [ 16 ] } ]", "output [ { name: \"TWICE_A\" data_type: TYPE_FP32 dims: [ 4 ] } ]", StringComparison.Ordinal);
        using var repository = new TemporaryRepository().Add("simple").Add("mlp").AddEnsemble("mixed", config);
        await using var server = await InMemoryFabrik.StartAsync("--model-repository", repository.Path, "--exit-on-error=false");

        var reason = server.Server.Models.Models["mixed"].Reason;
        Assert.Contains("step 1 ('mlp') input 'INPUT0' (tensor 'sum') is TYPE_FP32, but step 0 ('simple') output 'OUTPUT0' gives TYPE_INT32", reason, StringComparison.Ordinal);
    }
}
