using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Fabrik.Inference;
using Fabrik.Models;
using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Protocol.Grpc;
using Fabrik.Protocol.Triton;
using Fabrik.Protocol.Http;
using Fabrik.Tensors;
using Fabrik.Tests.Support;
using Google.Protobuf;
using Xunit;
using DataType = Fabrik.Tensors.DataType;

namespace Fabrik.Tests.Fuzz;

/// <summary>
/// Property-based fuzzing of every decoder (HTTP JSON, the binary extension, raw mode, gRPC typed
/// and raw) and of the config.pbtxt parser, on random and mutated versions of the stored samples
/// and the committed configurations. Properties:
/// <list type="bullet">
/// <item>a decoder either returns a request or throws InvalidArgument with a message; the parser
/// either returns a config or throws <see cref="ConfigFormatException"/>; nothing else escapes;</item>
/// <item>one request rents at most <see cref="PoolMultiple"/> × its size + 256 bytes per input
/// from the tensor pool, and allocates at most <see cref="ManagedMultiple"/> × its size +
/// <see cref="ManagedAllowance"/> bytes on its thread (the pool's own arrays included);</item>
/// <item>nothing stays rented once each request is disposed.</item>
/// </list>
/// CI runs <see cref="DefaultIterations"/> cases per property (a few seconds in all);
/// <c>Tests/Fuzz/run-long.sh SECONDS</c> runs each for as long as asked (CsCheck_Time).
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class DecoderFuzzTests(ServerFixture fixture)
{
    /// <summary>Pool bytes one request may rent per byte it carries: 8 (an INT64 element can be
    /// one varint byte on the wire) times 2 (power-of-two size classes).</summary>
    public const int PoolMultiple = 16;

    /// <summary>Managed bytes one decode may allocate per byte of request, pool arrays included.</summary>
    public const int ManagedMultiple = 32;

    /// <summary>Fixed managed allowance per decode: an exception with its stack trace and message,
    /// small dictionaries and strings.</summary>
    public const int ManagedAllowance = 64 << 10;

    private const int DefaultIterations = 400;

    private static readonly string[] HostileTokens =
    [
        "NaN", "Infinity", "-Infinity", "-Inf", "1e999", "-1", "0", "4611686018427387905", "9223372036854775807",
        "18446744073709551616", "\"\\u0000\"", "null", "true", "[]", "{}", "[[[[[[", "]]]", "\"", ",", ":",
    ];

    private static readonly Gen<long> Dimension = Gen.OneOf(
        Gen.Long[-2, 20],
        Gen.Long[0, 1L << 34],
        Gen.OneOf((1L << 62) + 1, long.MaxValue, long.MinValue, 1L << 31, (1L << 28) + 1, 1L << 40),
        Gen.Long);

    private static readonly Gen<long[]> Shape = Dimension.Array[0, 5];

    private static readonly Gen<string> ModelName = Gen.OneOf(Samples.ModelNames);

    [Fact]
    public void HttpJson_MutatedSamples_AreDecodedOrRefusedWithInvalidArgument()
    {
        var gen =
            from model in ModelName
            from kind in Gen.Int[0, 5]
            from shape in Shape
            from token in Gen.OneOf(HostileTokens)
            from seed in Gen.Int
            select (model, MutateJson(model, kind, shape, token, seed));
        Run(gen, c => Decode(c.model, c.Item2, c.Item2.Length, () => JsonInferenceRequestReader.Read(new ReadOnlySequence<byte>(c.Item2), null, Model(c.model), Pool, default)));
    }

    [Fact]
    public void HttpBinaryExtension_MutatedSamples_AreDecodedOrRefusedWithInvalidArgument()
    {
        var gen =
            from model in ModelName
            from shape in Shape
            from sizeKind in Gen.Int[0, 3]
            from declared in Gen.Long[-1, 1 << 20]
            from headerSlack in Gen.Int[-8, 8]
            from seed in Gen.Int
            select (model, Binary(model, shape, sizeKind, declared, headerSlack, seed));
        Run(gen, c => Decode(c.model, c.Item2.Body, c.Item2.Body.Length, () =>
            JsonInferenceRequestReader.Read(new ReadOnlySequence<byte>(c.Item2.Body), c.Item2.HeaderLength, Model(c.model), Pool, default)));
    }

    [Fact]
    public void HttpRawMode_RandomBodies_AreDecodedOrRefusedWithInvalidArgument()
    {
        var gen =
            from model in Gen.OneOf("mlp", "mlp_torch", "cnn", "strings", "simple")
            from length in Gen.OneOf(Gen.Int[0, 64], Gen.OneOf(63, 64, 65, 3 * 4 * 16), Gen.Int[0, 20_000])
            from seed in Gen.Int
            select (model, RandomBytes(length, seed));
        Run(gen, c => Decode(c.model, c.Item2, c.Item2.Length, () => RawInferenceRequestReader.Read(new ReadOnlySequence<byte>(c.Item2), Model(c.model), Pool, default)));
    }

    [Fact]
    public void GrpcTypedAndRaw_MutatedSamples_AreDecodedOrRefusedWithInvalidArgument()
    {
        var gen =
            from model in ModelName
            from raw in Gen.Bool
            from kind in Gen.Int[0, 5]
            from shape in Shape
            from count in Gen.OneOf(Gen.Int[0, 40], Gen.Int[0, 5000])
            from seed in Gen.Int
            select (model, MutateGrpc(model, raw, kind, shape, count, seed));
        Run(gen, c =>
        {
            if (c.Item2 is not { } message)
            {
                return; // the mutated bytes are not protobuf: the transport refuses them before any decoder
            }
            var size = message.CalculateSize();
            Decode(c.model, message, size, () => GrpcTensorCodec.Decode(message, Model(c.model), Pool, default));
        });
    }

    [Fact]
    public void ConfigPbtxt_MutatedConfigs_ParseOrFailWithAFormatError()
    {
        var configs = Samples.AllModelNames.Select(name => File.ReadAllText(Path.Combine(RepositoryLayout.Models, name, "config.pbtxt"))).ToArray();
        var gen =
            from index in Gen.Int[0, configs.Length - 1]
            from kind in Gen.Int[0, 3]
            from token in Gen.OneOf(["{", "}", "<", ">", "[", "]", ":", "\"", "'", "\\", "#", ",", ";", "-inf", "0x", "0x8000000000000000", "99999999999999999999", "dims: [ -1 ]", "input {", "max_batch_size: -5", "\\x", "\\777", "\u00e9", "\0"])
            from depth in Gen.Int[0, 300]
            from seed in Gen.Int
            select MutateConfig(configs[index], kind, token, depth, seed);
        Fuzz(gen, text =>
        {
            try
            {
                ModelConfigReader.Parse(text, "fuzzed");
            }
            catch (ConfigFormatException e)
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
            }
        });
    }

    private TensorMemoryPool Pool => fixture.Server.TensorPool;

    private LoadedModel Model(string name) => fixture.Server.Models.Resolve(name, null);

    private void Run<T>(Gen<T> gen, Action<T> check)
    {
        Fuzz(gen, check);
        Assert.Equal(0, Pool.Outstanding);
    }

    /// <summary>Runs <paramref name="check"/> on one thread (the pool's counters are shared), for
    /// <see cref="DefaultIterations"/> cases, or for CsCheck_Time seconds / CsCheck_Iter cases
    /// when either is set.</summary>
    private static void Fuzz<T>(Gen<T> gen, Action<T> check)
    {
        if (Environment.GetEnvironmentVariable("CsCheck_Time") is { Length: > 0 } || Environment.GetEnvironmentVariable("CsCheck_Iter") is { Length: > 0 })
        {
            gen.Sample(check, threads: 1);
        }
        else
        {
            gen.Sample(check, iter: DefaultIterations, threads: 1);
        }
    }

    /// <summary>Decodes once and checks the properties; <paramref name="message"/> is the request
    /// (for the failure report), <paramref name="size"/> its size in bytes.</summary>
    private void Decode(string model, object message, long size, Func<InferenceRequest> decode)
    {
        var inputs = Model(model).Config.Inputs.Length;
        var rentedBefore = Pool.RentedBytes;
        var managedBefore = GC.GetAllocatedBytesForCurrentThread();
        InferenceRequest? request = null;
        try
        {
            request = decode();
        }
        catch (InferenceException e) when (e.Kind == ErrorKind.InvalidArgument)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
        }
        catch (Exception e)
        {
            Assert.Fail($"model '{model}': {e.GetType().Name} escaped the decoder: {e.Message}\nrequest: {Describe(message)}");
        }
        using (request)
        {
            if (request is not null)
            {
                CheckConsistent(request);
            }
        }
        var rented = Pool.RentedBytes - rentedBefore;
        var managed = GC.GetAllocatedBytesForCurrentThread() - managedBefore;
        Assert.True(rented <= (PoolMultiple * size) + (256L * inputs), $"model '{model}': a {size}-byte request rented {rented} pool bytes\nrequest: {Describe(message)}");
        Assert.True(managed <= (ManagedMultiple * size) + ManagedAllowance, $"model '{model}': a {size}-byte request allocated {managed} managed bytes\nrequest: {Describe(message)}");
    }

    /// <summary>A decoded request must describe its buffers truthfully: element counts and byte
    /// lengths recomputed here in unbounded arithmetic, so no wrapped product reaches a backend.</summary>
    private static void CheckConsistent(InferenceRequest request)
    {
        foreach (var input in request.Inputs)
        {
            if (input is null)
            {
                continue;
            }
            var elements = input.Shape.Aggregate(System.Numerics.BigInteger.One, (product, dim) => product * dim);
            Assert.Equal(elements, new System.Numerics.BigInteger(input.ElementCount));
            Assert.InRange(input.ByteLength, 0, input.Array.Length);
            if (input.DataType == DataType.Bytes)
            {
                var count = 0L;
                foreach (var element in input.BytesElements())
                {
                    count++;
                }
                Assert.Equal(input.ElementCount, count);
            }
            else
            {
                Assert.Equal(elements * input.DataType.ElementSize(), new System.Numerics.BigInteger(input.ByteLength));
            }
        }
    }

    private static string Describe(object message) => message switch
    {
        byte[] bytes => Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 2000)),
        IMessage protobuf => protobuf.ToString() is { } text ? text[..Math.Min(2000, text.Length)] : "",
        _ => message.ToString() ?? "",
    };

    private static JsonObject SampleRequest(string model, Random random)
    {
        var samples = Samples.Load(model)["samples"]!.AsArray();
        var sample = samples[random.Next(samples.Count)]!;
        return new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() };
    }

    private static byte[] MutateJson(string model, int kind, long[] shape, string token, int seed)
    {
        var random = new Random(seed);
        var request = SampleRequest(model, random);
        var inputs = request["inputs"]!.AsArray();
        var input = inputs[random.Next(inputs.Count)]!.AsObject();
        switch (kind)
        {
            case 0:
                input["shape"] = new JsonArray(Hostile(TensorAssert.Longs(input["shape"]!), shape, random).Select(dim => (JsonNode)dim).ToArray());
                break;
            case 1:
                input["datatype"] = Pick(random, ["FP32", "FP64", "INT64", "BYTES", "BOOL", "FP16", "BF16", "UINT8", "X"]);
                break;
            case 2:
                input["parameters"] = new JsonObject { ["binary_data_size"] = random.NextInt64(-1, 1L << 40) };
                break;
            default:
                break;
        }
        var text = request.ToJsonString();
        if (kind >= 3)
        {
            // Text-level damage: a hostile token in place of a random span, bytes flipped, or a cut.
            var at = random.Next(text.Length);
            text = kind switch
            {
                3 => text[..at] + token + text[Math.Min(text.Length, at + random.Next(0, 6))..],
                4 => string.Concat(text.Select(c => random.Next(40) == 0 ? (char)random.Next(32, 127) : c)),
                _ => text[..at],
            };
        }
        return Encoding.UTF8.GetBytes(text);
    }

    private static (byte[] Body, long HeaderLength) Binary(string model, long[] shape, int sizeKind, long declared, int headerSlack, int seed)
    {
        var random = new Random(seed);
        var request = SampleRequest(model, random);
        var binary = new MemoryStream();
        var target = random.Next(request["inputs"]!.AsArray().Count);
        var position = 0;
        foreach (var input in request["inputs"]!.AsArray())
        {
            var isTarget = position++ == target;
            var datatype = (string)input!["datatype"]!;
            var bytes = BinaryTensors.Pack(datatype, input["data"]!);
            input.AsObject().Remove("data");
            long size = sizeKind switch
            {
                0 => bytes.Length,
                1 => declared,
                2 => bytes.Length + random.Next(-4, 5),
                _ => bytes.Length,
            };
            if (sizeKind == 3 && isTarget)
            {
                var hostile = random.Next(2) == 0 ? Wrapping(TensorAssert.Longs(input["shape"]!), datatype) : Hostile(TensorAssert.Longs(input["shape"]!), shape, random);
                input["shape"] = new JsonArray(hostile.Select(dim => (JsonNode)dim).ToArray());
            }
            input["parameters"] = new JsonObject { ["binary_data_size"] = size };
            binary.Write(bytes);
        }
        var header = Encoding.UTF8.GetBytes(request.ToJsonString());
        byte[] body = [.. header, .. binary.ToArray()];
        var headerLength = Math.Clamp(header.Length + (random.Next(4) == 0 ? headerSlack : 0), 0, body.Length);
        return (body, headerLength);
    }

    private static ModelInferRequest? MutateGrpc(string model, bool raw, int kind, long[] shape, int count, int seed)
    {
        var random = new Random(seed);
        var request = SampleRequest(model, random);
        var message = new ModelInferRequest { ModelName = model };
        foreach (var input in request["inputs"]!.AsArray())
        {
            var datatype = (string)input!["datatype"]!;
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = (string)input["name"]!, Datatype = datatype };
            tensor.Shape.AddRange(TensorAssert.Longs(input["shape"]!));
            if (raw || datatype is "FP16" or "BF16")
            {
                message.RawInputContents.Add(ByteString.CopyFrom(BinaryTensors.Pack(datatype, input["data"]!)));
            }
            else
            {
                tensor.Contents = TypedContents(datatype, TensorAssert.Flatten(input["data"]!));
            }
            message.Inputs.Add(tensor);
        }
        if (message.RawInputContents.Count > 0 && message.RawInputContents.Count != message.Inputs.Count)
        {
            // Mixed raw and typed is itself a mistake the decoder must name; keep some of those.
            if (random.Next(2) == 0)
            {
                message.RawInputContents.Clear();
            }
        }
        var target = message.Inputs[random.Next(message.Inputs.Count)];
        switch (kind)
        {
            case 0:
                var hostile = raw && random.Next(2) == 0 ? Wrapping(target.Shape.ToArray(), target.Datatype) : Hostile(target.Shape.ToArray(), shape, random);
                target.Shape.Clear();
                target.Shape.AddRange(hostile);
                break;
            case 1:
                target.Datatype = Pick(random, ["FP32", "FP64", "INT64", "BYTES", "BOOL", "FP16", "INT8", "UINT8", ""]);
                break;
            case 2:
                if (target.Contents is { } contents)
                {
                    contents.Int64Contents.AddRange(Enumerable.Repeat(7L, count));
                    contents.Fp32Contents.AddRange(Enumerable.Repeat(1f, count));
                    contents.IntContents.AddRange(Enumerable.Repeat(300, count % 7));
                }
                else if (message.RawInputContents.Count > 0)
                {
                    var index = random.Next(message.RawInputContents.Count);
                    var bytes = message.RawInputContents[index].ToByteArray();
                    message.RawInputContents[index] = ByteString.CopyFrom(bytes.AsSpan(0, Math.Min(bytes.Length, count)));
                }
                break;
            case 3:
                message.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = Pick(random, ["OUTPUT0", "NOPE", ""]) });
                message.Parameters["priority"] = new InferParameter { StringParam = "x" };
                break;
            default:
                // Wire-level damage, parsed back as the server's transport would.
                var wire = message.ToByteArray();
                for (var flips = random.Next(1, 6); flips > 0 && wire.Length > 0; flips--)
                {
                    wire[random.Next(wire.Length)] = (byte)random.Next(256);
                }
                try
                {
                    return ModelInferRequest.Parser.ParseFrom(wire);
                }
                catch (InvalidProtocolBufferException)
                {
                    return null;
                }
        }
        return message;
    }

    private static InferTensorContents TypedContents(string datatype, IReadOnlyList<JsonNode> values)
    {
        var contents = new InferTensorContents();
        switch (datatype)
        {
            case "BOOL": contents.BoolContents.AddRange(values.Select(v => v.GetValue<bool>())); break;
            case "INT8" or "INT16" or "INT32": contents.IntContents.AddRange(values.Select(v => (int)v.GetValue<long>())); break;
            case "INT64": contents.Int64Contents.AddRange(values.Select(v => v.GetValue<long>())); break;
            case "UINT8" or "UINT16" or "UINT32": contents.UintContents.AddRange(values.Select(v => (uint)v.GetValue<ulong>())); break;
            case "UINT64": contents.Uint64Contents.AddRange(values.Select(v => v.GetValue<ulong>())); break;
            case "FP32": contents.Fp32Contents.AddRange(values.Select(v => (float)v.GetValue<double>())); break;
            case "FP64": contents.Fp64Contents.AddRange(values.Select(v => v.GetValue<double>())); break;
            default: contents.BytesContents.AddRange(values.Select(v => ByteString.CopyFromUtf8(v.GetValue<string>()))); break;
        }
        return contents;
    }

    private static string MutateConfig(string text, int kind, string token, int depth, int seed)
    {
        var random = new Random(seed);
        var at = random.Next(text.Length + 1);
        return kind switch
        {
            0 => text[..at] + token + text[at..],
            1 => string.Concat(text.Select(c => random.Next(30) == 0 ? (char)random.Next(0, 128) : c)),
            2 => text[..at],
            _ => text + "\nparameters " + string.Concat(Enumerable.Repeat("{ a ", depth)) + new string('}', random.Next(depth + 1)),
        };
    }

    /// <summary>Mostly the sample's own shape with one dimension replaced by a generated one (so
    /// that it still passes the rank and fixed-dimension checks and reaches the size checks),
    /// sometimes the generated shape whole.</summary>
    private static long[] Hostile(long[] sample, long[] generated, Random random)
    {
        if (sample.Length == 0 || generated.Length == 0 || random.Next(4) == 0)
        {
            return generated;
        }
        var shape = (long[])sample.Clone();
        shape[random.Next(shape.Length)] = generated[0];
        return shape;
    }

    /// <summary>The sample's shape with its last dimension grown by 2^64 / element size, so that
    /// the byte size computed in wrapping 64-bit arithmetic equals the bytes actually sent.</summary>
    private static long[] Wrapping(long[] sample, string datatype)
    {
        var elementSize = datatype switch { "FP64" or "INT64" or "UINT64" => 8, "FP32" or "INT32" or "UINT32" => 4, "FP16" or "BF16" or "INT16" or "UINT16" => 2, _ => 0 };
        if (sample.Length == 0 || elementSize == 0 || sample.Aggregate(1L, (product, dim) => product * dim) != sample[^1])
        {
            return sample;
        }
        var shape = (long[])sample.Clone();
        shape[^1] += (long)(ulong.MaxValue / (ulong)elementSize + 1);
        return shape;
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static T Pick<T>(Random random, T[] choices) => choices[random.Next(choices.Length)];
}
