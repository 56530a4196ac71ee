using System.Collections.Immutable;
using Fabrik.Configuration;
using Fabrik.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// Fills in what a configuration leaves out from the ONNX model itself, as Triton's onnxruntime
/// backend does: input and output names, datatypes and dims, and max_batch_size. Rule for
/// max_batch_size when the configuration does not set it: if every input and output has a
/// variable first dimension, the model batches, with max_batch_size 4 (Triton's default) and the
/// first dimension taken as the batch; otherwise max_batch_size is 0.
/// </summary>
internal static class OnnxAutoComplete
{
    public const int DefaultMaxBatchSize = 4;

    public static ModelConfig Complete(ModelConfig config, string modelPath)
    {
        if (config.Inputs.Length > 0 && config.Outputs.Length > 0 && config.MaxBatchSizeSpecified)
        {
            return config;
        }
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = Open(modelPath, options);
        var all = session.InputMetadata.Values.Concat(session.OutputMetadata.Values).ToList();
        var batchable = all.Count > 0 && all.All(node => node.IsTensor && node.Dimensions.Length > 0 && node.Dimensions[0] == -1);
        var maxBatchSize = config.MaxBatchSizeSpecified ? config.MaxBatchSize : batchable ? DefaultMaxBatchSize : 0;
        return config with
        {
            MaxBatchSize = maxBatchSize,
            MaxBatchSizeSpecified = true,
            Inputs = config.Inputs.Length > 0 ? config.Inputs : Tensors(session.InputMetadata, maxBatchSize > 0),
            Outputs = config.Outputs.Length > 0 ? config.Outputs : Tensors(session.OutputMetadata, maxBatchSize > 0),
        };
    }

    private static InferenceSession Open(string modelPath, SessionOptions options)
    {
        try
        {
            return new InferenceSession(modelPath, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw OnnxLoadFailure.Describe(modelPath, e);
        }
    }

    private static ImmutableArray<TensorConfig> Tensors(IReadOnlyDictionary<string, NodeMetadata> metadata, bool stripBatch) =>
        metadata.Select(pair =>
        {
            var node = pair.Value;
            if (!node.IsTensor)
            {
                throw new InvalidOperationException($"'{pair.Key}' is not a tensor; Fabrik serves tensor inputs and outputs only");
            }
            var dims = node.Dimensions.Select(d => (long)d).Skip(stripBatch ? 1 : 0).ToImmutableArray();
            return new TensorConfig(pair.Key, DataTypeOf(pair.Key, node.ElementDataType), dims);
        }).ToImmutableArray();

    private static DataType DataTypeOf(string name, TensorElementType type) => type switch
    {
        TensorElementType.Bool => DataType.Bool,
        TensorElementType.UInt8 => DataType.UInt8,
        TensorElementType.UInt16 => DataType.UInt16,
        TensorElementType.UInt32 => DataType.UInt32,
        TensorElementType.UInt64 => DataType.UInt64,
        TensorElementType.Int8 => DataType.Int8,
        TensorElementType.Int16 => DataType.Int16,
        TensorElementType.Int32 => DataType.Int32,
        TensorElementType.Int64 => DataType.Int64,
        TensorElementType.Float16 => DataType.Fp16,
        TensorElementType.BFloat16 => DataType.Bf16,
        TensorElementType.Float => DataType.Fp32,
        TensorElementType.Double => DataType.Fp64,
        TensorElementType.String => DataType.Bytes,
        _ => throw new InvalidOperationException($"'{name}' has element type {type}, which Fabrik does not serve"),
    };
}
