using System.Diagnostics;
using Fabrik.Errors;
using Fabrik.Tensors;

namespace Fabrik.Execution.Pipeline;

/// <summary>
/// One batch through a staged instance's steps in turn on the calling thread, over a staging set
/// the instance keeps for it: what <see cref="IModelInstance.Run"/> is for a staged instance
/// (warm-up, a request re-run alone, an instance whose pipeline did not fit the pinned pool).
/// </summary>
internal static class WholeBatch
{
    /// <summary>Gathers <paramref name="inputs"/> into <paramref name="set"/>, copies in, runs,
    /// copies out, and returns the outputs in pooled buffers the caller owns.</summary>
    /// <exception cref="InferenceException">InvalidArgument: the inputs do not have the rows or the
    /// sizes the model's configuration fixes.</exception>
    public static TensorBuffer[] Run(IStagedModelInstance instance, StagingSet set, TensorBuffer?[] inputs, TensorMemoryPool pool,
        string modelName, ref ExecutionTimings timings, TimeSpan? timeLeft)
    {
        var start = Stopwatch.GetTimestamp();
        var layout = set.Layout;
        var rows = layout.Batched ? (int)(inputs.Length > 0 && inputs[0] is { Shape.Length: > 0 } first ? first.Shape[0] : 0) : 1;
        if (rows < 1 || rows > layout.MaxRows || inputs.Length != layout.Inputs.Length)
        {
            throw new InferenceException(ErrorKind.InvalidArgument, $"model '{modelName}' takes batches of 1 to {layout.MaxRows} rows of {layout.Inputs.Length} input(s)");
        }
        set.Rows = rows;
        for (var i = 0; i < inputs.Length; i++)
        {
            var input = inputs[i] is { } present && present.ByteLength == layout.InputRowBytes[i] * rows
                ? present.Bytes
                : throw new InferenceException(ErrorKind.InvalidArgument, $"input '{layout.Inputs[i].Name}' does not have the size its configuration fixes");
            input.CopyTo(set.Input(i));
        }
        instance.CopyIn(set);
        var copiedIn = Stopwatch.GetTimestamp();
        instance.Run(set, timeLeft);
        var ran = Stopwatch.GetTimestamp();
        instance.CopyOut(set);
        var outputs = new TensorBuffer[layout.Outputs.Length];
        try
        {
            for (var o = 0; o < outputs.Length; o++)
            {
                var output = layout.Outputs[o];
                var source = set.Output(o);
                outputs[o] = new TensorBuffer(pool, output.DataType, layout.Shape(output, rows), StagingLayout.Elements(output, rows), source.Length);
                source.CopyTo(outputs[o].Bytes);
            }
        }
        catch
        {
            foreach (var output in outputs)
            {
                output?.Dispose();
            }
            throw;
        }
        timings.InputTicks = copiedIn - start;
        timings.InferTicks = ran - copiedIn;
        timings.OutputTicks = Stopwatch.GetTimestamp() - ran;
        return outputs;
    }
}
