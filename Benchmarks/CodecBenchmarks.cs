using System.Buffers;
using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using Fabrik.Inference;
using Fabrik.Models;
using Fabrik.Protocol;
using Fabrik.Protocol.Http;
using Fabrik.Tensors;

namespace Fabrik.Benchmarks;

/// <summary>
/// The v2 JSON codec per datatype: decoding 1,024 elements into a pooled tensor, and encoding a
/// 1,024-element output. The binary extension's decode of the same tensor is the baseline, so the
/// ratio shows what JSON costs over raw bytes.
/// </summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private const int Elements = 1024;

    private readonly TensorMemoryPool _pool = new();
    private readonly PooledBufferWriter _output = new(64 * 1024);
    private LoadedModel _model = null!;
    private ReadOnlySequence<byte> _json;
    private ReadOnlySequence<byte> _binary;
    private long _binaryHeaderLength;
    private InferenceRequest _request = null!;
    private InferenceResponse _response = null!;

    [Params("INT32", "FP32", "FP16", "BYTES")]
    public string DataType { get; set; } = "FP32";

    [GlobalSetup]
    public void Setup()
    {
        var type = DataTypes.FromWireName(DataType);
        _model = BenchmarkModels.Codec(type, _pool);
        var values = Enumerable.Range(0, Elements).Select(i => type switch
        {
            Tensors.DataType.Bytes => $"\"item {i}\"",
            Tensors.DataType.Int32 => (i * 7919).ToString(CultureInfo.InvariantCulture),
            _ => (i / 3.0f).ToString("R", CultureInfo.InvariantCulture),
        });
        _json = Sequence($$"""{"inputs":[{"name":"INPUT0","datatype":"{{DataType}}","shape":[{{Elements}}],"data":[{{string.Join(",", values)}}]}]}""");

        // The same tensor in binary form, taken from a decoded request (its layout is the wire's).
        using (var decoded = JsonInferenceRequestReader.Read(_json, null, _model, _pool, default))
        {
            var raw = decoded.Inputs[0]!.Bytes.ToArray();
            var header = Encoding.UTF8.GetBytes(
                $$"""{"inputs":[{"name":"INPUT0","datatype":"{{DataType}}","shape":[{{Elements}}],"parameters":{"binary_data_size":""" + raw.Length + "}}]}");
            _binary = new ReadOnlySequence<byte>([.. header, .. raw]);
            _binaryHeaderLength = header.Length;
        }
        _request = JsonInferenceRequestReader.Read(_json, null, _model, _pool, default);
        var input = _request.Inputs[0]!;
        var output = new TensorBuffer(_pool, input.DataType, input.Shape, input.ElementCount, input.ByteLength);
        input.Bytes.CopyTo(output.Bytes);
        _response = new InferenceResponse([output]);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _response.Dispose();
        _request.Dispose();
        _output.Dispose();
    }

    [Benchmark(Baseline = true)]
    public long DecodeBinary()
    {
        using var request = JsonInferenceRequestReader.Read(_binary, _binaryHeaderLength, _model, _pool, default);
        return request.Inputs[0]!.ByteLength;
    }

    [Benchmark]
    public long DecodeJson()
    {
        using var request = JsonInferenceRequestReader.Read(_json, null, _model, _pool, default);
        return request.Inputs[0]!.ByteLength;
    }

    [Benchmark]
    public int EncodeJson()
    {
        _output.Reset();
        JsonInferenceResponseWriter.Write(_output, _model, _request, _response);
        return _output.WrittenCount;
    }

    private static ReadOnlySequence<byte> Sequence(string text) => new(Encoding.UTF8.GetBytes(text));
}
