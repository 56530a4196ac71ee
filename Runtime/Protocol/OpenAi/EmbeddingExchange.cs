using Fabrik.Errors;
using Fabrik.Inference;
using Fabrik.Models;
using Fabrik.Models.Embeddings;
using Fabrik.Protocol.Http;
using Fabrik.Tenancy;
using Fabrik.Tensors;

namespace Fabrik.Protocol.OpenAi;

/// <summary>
/// One batch of an <see cref="EmbeddingRun"/> through <see cref="InferencePipeline"/>: rows
/// <c>[start, start + count)</c> in length order, padded to <c>bucket</c> tokens. Decoding writes
/// input_ids (0, the [PAD] id, after the tokens), attention_mask (1 over the tokens, 0 after) and
/// token_type_ids (0); encoding pools each row's vectors over its tokens into the run's results.
/// </summary>
internal readonly struct EmbeddingExchange(EmbeddingRun run, int start, int count, int bucket) : IInferenceExchange<bool>
{
    public string Protocol => "HTTP";

    public string? TraceParent => run.Context.Request.Headers.TraceParent;

    public string? TraceState => run.Context.Request.Headers.TraceState;

    public Tenant? Tenant => run.Context.Features.Get<Tenant>();

    /// <summary>0: the endpoint adds the HTTP request's bytes to the usage once, not per batch.</summary>
    public long RequestBytes => 0;

    public long ResponseBytes(bool result) => 0;

    public ValueTask<InferenceRequest> DecodeAsync(LoadedModel model, CancellationToken cancellation)
    {
        if (!ReferenceEquals(model.Embedding, run.Embedding))
        {
            throw InferenceException.Unavailable($"model '{model.Name}' was reloaded while the request ran; send it again");
        }
        var settings = run.Embedding.Settings;
        var config = model.Config;
        var inputs = new TensorBuffer?[config.Inputs.Length];
        try
        {
            for (var i = 0; i < inputs.Length; i++)
            {
                if (i == settings.InputIds || i == settings.AttentionMask || i == settings.TokenTypeIds)
                {
                    inputs[i] = Fill(config.Inputs[i].DataType, i == settings.InputIds ? 0 : i == settings.AttentionMask ? 1 : 2);
                }
            }
            return ValueTask.FromResult(new InferenceRequest(inputs, count) { Tenant = Tenant, Cancellation = cancellation });
        }
        catch
        {
            foreach (var input in inputs)
            {
                input?.Dispose();
            }
            throw;
        }
    }

    /// <summary>A [count, bucket] tensor of ids (what 0), the mask (1) or segment ids (2).</summary>
    private TensorBuffer Fill(DataType type, int what)
    {
        long elements = (long)count * bucket;
        var buffer = new TensorBuffer(run.Pool, type, [count, bucket], elements, elements * type.ElementSize());
        if (type == DataType.Int64)
        {
            Write(buffer.As<long>(), what, static value => value);
        }
        else
        {
            Write(buffer.As<int>(), what, static value => value);
        }
        return buffer;
    }

    private void Write<T>(Span<T> values, int what, Func<int, T> convert) where T : unmanaged
    {
        values.Clear();
        if (what == 2)
        {
            return;
        }
        var one = convert(1);
        for (var row = 0; row < count; row++)
        {
            var tokens = run.Inputs.Tokens[run.InputAt(start + row)];
            var destination = values.Slice(row * bucket, tokens.Count);
            for (var t = 0; t < destination.Length; t++)
            {
                destination[t] = what == 0 ? convert(tokens[t]) : one;
            }
        }
    }

    public bool Encode(LoadedModel model, InferenceRequest request, InferenceResponse response)
    {
        using (response)
        {
            var settings = run.Embedding.Settings;
            var dimensions = settings.Dimensions;
            var output = response.Outputs[settings.Output];
            if (output.Shape is not [var rows, var length, var size] || rows != count || length != bucket || size != dimensions)
            {
                throw new InferenceException(ErrorKind.Internal,
                    $"the embedding output has shape [{string.Join(", ", output.Shape)}], not [{count}, {bucket}, {dimensions}]");
            }
            ReadOnlySpan<float> values = output.As<float>();
            var vectors = run.Vectors;
            for (var row = 0; row < count; row++)
            {
                var index = run.InputAt(start + row);
                var tokens = settings.Pooling == EmbeddingPooling.Cls ? 1 : run.Inputs.Tokens[index].Count;
                Pool(values.Slice(row * bucket * dimensions, tokens * dimensions), tokens, vectors.Slice(index * dimensions, dimensions));
            }
            return true;
        }
    }

    /// <summary>The mean of <paramref name="tokens"/> consecutive vectors (one vector: itself).</summary>
    private static void Pool(ReadOnlySpan<float> rows, int tokens, Span<float> vector)
    {
        vector.Clear();
        for (var t = 0; t < tokens; t++)
        {
            var source = rows.Slice(t * vector.Length, vector.Length);
            for (var d = 0; d < vector.Length; d++)
            {
                vector[d] += source[d];
            }
        }
        var scale = 1f / tokens;
        for (var d = 0; d < vector.Length; d++)
        {
            vector[d] *= scale;
        }
    }

    public string TraceStatus(Exception? error) => HttpErrors.TraceStatus(error);
}
