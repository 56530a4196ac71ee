using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Tokenizers;

namespace Fabrik.Tests.Protocol.OpenAi;

/// <summary>
/// The sample embedding model's vectors computed without the server: the vocabulary read by
/// Microsoft.ML.Tokenizers directly, the ONNX model run by ONNX Runtime directly on the unpadded
/// tokens, then mean pooling and L2 normalisation written out here.
/// </summary>
internal sealed class EmbeddingReference : IDisposable
{
    public const string Model = "embedder";
    public const int Dimensions = 32;

    private static readonly string Folder = Path.Combine(RepositoryLayout.Models, Model, "1");
    private readonly InferenceSession _session = new(Path.Combine(Folder, "model.onnx"));

    public BertTokenizer Tokenizer { get; } = BertTokenizer.Create(Path.Combine(Folder, "vocab.txt"));

    /// <summary>The ids the model sees for <paramref name="text"/>, [CLS] and [SEP] included.</summary>
    public int[] Tokenize(string text) => [.. Tokenizer.EncodeToIds(text, addSpecialTokens: true)];

    /// <summary>The unit-length embedding of <paramref name="text"/>, cut to <paramref name="dimensions"/>.</summary>
    public float[] Embed(string text, int dimensions = Dimensions) => Embed(Tokenize(text), dimensions);

    /// <summary>The unit-length embedding of token ids as given, cut to <paramref name="dimensions"/>.</summary>
    public float[] Embed(int[] ids, int dimensions = Dimensions, bool cls = false)
    {
        var shape = new[] { 1, ids.Length };
        var inputs = new[]
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids.Select(id => (long)id).ToArray(), shape)),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, ids.Length).ToArray(), shape)),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[ids.Length], shape)),
        };
        using var outputs = _session.Run(inputs);
        var hidden = outputs[0].AsTensor<float>();
        // Mean pooling over every token, or the first token's vector alone.
        var pooled = cls ? 1 : ids.Length;
        var mean = new double[Dimensions];
        for (var t = 0; t < pooled; t++)
        {
            for (var d = 0; d < Dimensions; d++)
            {
                mean[d] += hidden[0, t, d] / pooled;
            }
        }
        var cut = mean.Take(dimensions).ToArray();
        var norm = Math.Sqrt(cut.Sum(value => value * value));
        return [.. cut.Select(value => (float)(value / norm))];
    }

    public void Dispose() => _session.Dispose();
}
