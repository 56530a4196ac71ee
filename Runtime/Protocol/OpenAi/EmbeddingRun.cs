using System.Buffers;
using Fabrik.Models;
using Fabrik.Models.Embeddings;
using Fabrik.Tensors;

namespace Fabrik.Protocol.OpenAi;

/// <summary>
/// Runs one embeddings request's inputs through the model's scheduler and pools the results.
/// The inputs are sorted by padded length (<see cref="EmbeddingSettings.Bucket"/>) and cut into
/// batches of at most max_batch_size rows of one length; each batch is one inference through
/// <see cref="InferencePipeline"/> (lease, trace, statistics as for any other), all submitted at
/// once, so the dynamic batcher merges them with each other and with other clients' batches of
/// the same length.
/// </summary>
/// <remarks>Owns <see cref="Vectors"/> (rented from the shared array pool) until disposed. Each
/// batch writes only its own inputs' rows of it, so the batches need no lock between them.</remarks>
internal sealed class EmbeddingRun : IDisposable
{
    private readonly int[] _order;
    private float[]? _vectors;

    private EmbeddingRun(LoadedModel model, TokenizedInputs inputs, TensorMemoryPool pool, HttpContext context)
    {
        Model = model;
        Embedding = model.Embedding!;
        Inputs = inputs;
        Pool = pool;
        Context = context;
        var count = inputs.Tokens.Length;
        _order = new int[count];
        var buckets = new int[count];
        for (var i = 0; i < count; i++)
        {
            _order[i] = i;
            buckets[i] = Embedding.Settings.Bucket(inputs.Tokens[i].Count);
        }
        Array.Sort(buckets, _order);
        _vectors = ArrayPool<float>.Shared.Rent(checked(count * Embedding.Settings.Dimensions));
    }

    public LoadedModel Model { get; }

    public EmbeddingModel Embedding { get; }

    public TokenizedInputs Inputs { get; }

    public TensorMemoryPool Pool { get; }

    public HttpContext Context { get; }

    /// <summary>The pooled vectors, input after input, each <see cref="EmbeddingSettings.Dimensions"/> long.</summary>
    public Span<float> Vectors => _vectors.AsSpan(0, Inputs.Tokens.Length * Embedding.Settings.Dimensions);

    /// <summary>The input index of the <paramref name="position"/>-th row in length order.</summary>
    public int InputAt(int position) => _order[position];

    /// <summary>Runs every batch; returns when all are pooled, or throws the first failure.</summary>
    public static async Task<EmbeddingRun> ExecuteAsync(
        LoadedModel model, TokenizedInputs inputs, InferencePipeline pipeline, TensorMemoryPool pool, HttpContext context, CancellationToken cancellation)
    {
        var run = new EmbeddingRun(model, inputs, pool, context);
        try
        {
            var batches = new List<Task>();
            var settings = run.Embedding.Settings;
            var maxRows = model.Config.MaxBatchSize;
            for (var start = 0; start < run._order.Length;)
            {
                var bucket = settings.Bucket(inputs.Tokens[run._order[start]].Count);
                var end = start + 1;
                while (end < run._order.Length && end - start < maxRows && settings.Bucket(inputs.Tokens[run._order[end]].Count) == bucket)
                {
                    end++;
                }
                var exchange = new EmbeddingExchange(run, start, end - start, bucket);
                batches.Add(pipeline.RunAsync<EmbeddingExchange, bool>(model.Name, model.VersionText, exchange, cancellation).AsTask());
                start = end;
            }
            await Task.WhenAll(batches);
            return run;
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        var vectors = Interlocked.Exchange(ref _vectors, null);
        if (vectors is not null)
        {
            ArrayPool<float>.Shared.Return(vectors);
        }
    }
}
