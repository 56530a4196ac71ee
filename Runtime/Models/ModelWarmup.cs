using System.Buffers.Binary;
using Fabrik.Configuration;
using Fabrik.Execution;
using Fabrik.Tensors;

namespace Fabrik.Models;

/// <summary>
/// Runs a model's model_warmup samples on every instance before the model is READY, as Triton
/// does, so that the first real requests do not pay for lazy initialisation. A sample that fails
/// fails the load, with the sample's name in the reason.
/// </summary>
internal static class ModelWarmup
{
    public static void Run(ModelConfig config, IModelInstance[] instances, ModelSource source, TensorMemoryPool pool)
    {
        foreach (var sample in config.Warmup)
        {
            foreach (var instance in instances)
            {
                for (var run = 0; run < sample.Count; run++)
                {
                    var inputs = new TensorBuffer?[config.Inputs.Length];
                    try
                    {
                        for (var i = 0; i < inputs.Length; i++)
                        {
                            inputs[i] = Input(config, config.Inputs[i], sample, source, pool);
                        }
                        var timings = default(ExecutionTimings);
                        foreach (var output in instance.Run(inputs, ref timings, timeLeft: null))
                        {
                            output.Dispose();
                        }
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        throw new InvalidOperationException($"model_warmup sample '{sample.Name}' failed on {instance.Device}: {e.Message}", e);
                    }
                    finally
                    {
                        foreach (var input in inputs)
                        {
                            input?.Dispose();
                        }
                    }
                }
            }
        }
    }

    private static TensorBuffer? Input(ModelConfig config, TensorConfig input, WarmupSample sample, ModelSource source, TensorMemoryPool pool)
    {
        var spec = sample.Inputs.FirstOrDefault(candidate => candidate.Name == input.Name);
        if (spec is null)
        {
            return input.Optional ? null : throw new InvalidOperationException($"it gives no data for input '{input.Name}'");
        }
        if (spec.DataType != input.DataType)
        {
            throw new InvalidOperationException($"input '{input.Name}' is {spec.DataType.ConfigName()} in the sample but {input.DataType.ConfigName()} in the model");
        }
        long[] shape = config.MaxBatchSize > 0 ? [sample.BatchSize, .. spec.Dims] : [.. spec.Dims];
        var elements = shape.Aggregate(1L, (product, dim) => product * dim);
        if (spec.Data == WarmupData.File)
        {
            var path = ModelRepository.Confine(source.Root, Path.Combine(source.Directory, "warmup", spec.FileName));
            var bytes = File.ReadAllBytes(path);
            var fromFile = new TensorBuffer(pool, input.DataType, shape, elements, bytes.Length);
            bytes.CopyTo(fromFile.Bytes);
            return fromFile;
        }
        if (input.DataType == DataType.Bytes)
        {
            // Zero data for strings (random falls back to it, as in Triton): empty elements.
            var strings = new TensorBuffer(pool, DataType.Bytes, shape, elements, elements * 4);
            strings.Bytes.Clear();
            return strings;
        }
        var buffer = new TensorBuffer(pool, input.DataType, shape, elements, elements * input.DataType.ElementSize());
        if (spec.Data == WarmupData.Random)
        {
            FillRandom(buffer);
        }
        else
        {
            buffer.Bytes.Clear();
        }
        return buffer;
    }

    /// <summary>Deterministic pseudo-random values that are valid for the type (no NaN floats).</summary>
    private static void FillRandom(TensorBuffer buffer)
    {
        var random = new Random(12345);
        var bytes = buffer.Bytes;
        switch (buffer.DataType)
        {
            case DataType.Fp32:
                for (var i = 0; i + 4 <= bytes.Length; i += 4)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes[i..], random.NextSingle());
                }
                break;
            case DataType.Fp64:
                for (var i = 0; i + 8 <= bytes.Length; i += 8)
                {
                    BinaryPrimitives.WriteDoubleLittleEndian(bytes[i..], random.NextDouble());
                }
                break;
            case DataType.Fp16:
                for (var i = 0; i + 2 <= bytes.Length; i += 2)
                {
                    BinaryPrimitives.WriteHalfLittleEndian(bytes[i..], (Half)random.NextSingle());
                }
                break;
            case DataType.Bf16:
                for (var i = 0; i + 2 <= bytes.Length; i += 2)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes[i..], BFloat16.FromSingle(random.NextSingle()));
                }
                break;
            case DataType.Bool:
                for (var i = 0; i < bytes.Length; i++)
                {
                    bytes[i] = (byte)random.Next(2);
                }
                break;
            default:
                random.NextBytes(bytes);
                break;
        }
    }
}
