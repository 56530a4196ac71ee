using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Fabrik.Scheduling.Sequences;
using Fabrik.Tests.Support;
using Google.Protobuf;
using Grpc.Core;
using Xunit;

namespace Fabrik.Tests.Scheduling.Sequences;

/// <summary>
/// The sequence batcher on the real server, with ONNX Runtime running the sample models that
/// models/generate.py made: the accumulator with implicit state, and the model that shows its
/// control inputs. Running sums are computed here, independently of the server.
/// </summary>
public sealed class SequenceServerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("sequence_accumulator")]
    [InlineData("sequence_accumulator_torch")]
    [InlineData("sequence_controls")]
    public async Task StoredSamples_AsOneSequence_ReturnTheStoredOutputs(string model)
    {
        using var repository = new TemporaryRepository().Add(model);
        await using var host = await Start(repository);
        using var client = host.CreateHttpClient();
        foreach (var sample in Samples.Load(model)["samples"]!.AsArray())
        {
            var request = new JsonObject { ["parameters"] = sample!["parameters"]!.DeepClone(), ["inputs"] = sample["inputs"]!.DeepClone() };

            var (status, body) = await SequenceRequests.Post(client, model, request.ToJsonString());

            Assert.Equal(HttpStatusCode.OK, status);
            TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(body)!["outputs"]!.AsArray(), 0);
        }
    }

    [Fact]
    public async Task Accumulator_InterleavedSequencesFromManyClients_EachGetsItsOwnRunningSum()
    {
        // 24 sequences on 8 slots: 16 wait in the backlog until earlier ones end. Even clients use
        // HTTP with numeric ids, odd ones gRPC with string ids.
        using var repository = Repository();
        await using var host = await Start(repository);
        using var http = host.CreateHttpClient();
        using var channel = host.CreateGrpcChannel();
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        const int Steps = 12;

        async Task Client(int client)
        {
            var random = new Random(client);
            var sum = 0;
            for (var step = 0; step < Steps; step++)
            {
                var value = random.Next(-1000, 1000);
                sum += value;
                var (start, end) = (step == 0, step == Steps - 1);
                var output = client % 2 == 0
                    ? await SequenceRequests.Accumulate(http, (ulong)(1000 + client), value, start, end)
                    : await GrpcAccumulate(grpc, $"client-{client}", value, start, end);
                Assert.Equal(sum, output);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 24).Select(Client)).WaitAsync(Wait);
        Assert.Equal(0, Batcher(host).LiveSequences);
    }

    [Fact]
    public async Task GrpcStream_CarriesWholeSequences_InOrder()
    {
        using var repository = Repository();
        await using var host = await Start(repository);
        using var channel = host.CreateGrpcChannel();
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        using var call = grpc.ModelStreamInfer();
        int[] values = [4, 8, -3, 10];
        for (var i = 0; i < values.Length; i++)
        {
            await call.RequestStream.WriteAsync(AccumulatorRequest(new InferParameter { Uint64Param = 77 }, values[i], i == 0, i == values.Length - 1));
        }
        await call.RequestStream.CompleteAsync();

        var sums = new List<int>();
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            Assert.Equal("", response.ErrorMessage);
            sums.Add(BinaryPrimitives.ReadInt32LittleEndian(response.InferResponse.RawOutputContents[0].Span));
        }

        Assert.Equal([4, 12, 9, 19], sums);
    }

    [Fact]
    public async Task IdleTimeout_FreesTheSlot_AndALateRequestIsRefused()
    {
        // One slot (max_batch_size 1), an idle limit of 5 s, and a clock the test moves.
        var time = new Fabrik.Testing.ManualTimeProvider();
        using var repository = new TemporaryRepository().Add("sequence_accumulator", extraConfig: "max_batch_size: 1");
        await using var host = await InMemoryFabrik.StartAsync(ServerOptions.Parse(["--model-repository", repository.Path]), time);
        using var client = host.CreateHttpClient();
        Assert.Equal(5, await SequenceRequests.Accumulate(client, 1, 5, start: true, end: false));

        var waiting = SequenceRequests.Accumulate(client, 2, 7, start: true, end: false);
        await Eventually.UntilAsync(() => Batcher(host).QueuedCount == 1, "the second sequence waits for the slot");
        Assert.False(waiting.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(6));

        Assert.Equal(7, await waiting.WaitAsync(Wait)); // the idle sequence's slot went to the waiting one
        var (status, body) = await SequenceRequests.Post(client, "sequence_accumulator", SequenceRequests.AccumulatorJson(1, 1, start: false, end: false));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("must specify the START flag", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SecondStart_OnALiveId_IsRefused_AndTheLiveSequenceKeepsItsSum()
    {
        using var repository = new TemporaryRepository().Add("sequence_accumulator");
        await using var host = await InMemoryFabrik.StartAsync(ServerOptions.Parse(["--model-repository", repository.Path]));
        using var client = host.CreateHttpClient();
        Assert.Equal(5, await SequenceRequests.Accumulate(client, 9, 5, start: true, end: false));

        var (status, body) = await SequenceRequests.Post(client, "sequence_accumulator", SequenceRequests.AccumulatorJson(9, 100, start: true, end: false));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("sequence 9 of model 'sequence_accumulator' is already in progress", body, StringComparison.Ordinal);
        Assert.Equal(5 + 3, await SequenceRequests.Accumulate(client, 9, 3, start: false, end: true));
    }

    [Fact]
    public async Task Unload_WithOpenSequences_AnswersEveryAcceptedRequestCorrectly()
    {
        using var repository = Repository();
        var host = await InMemoryFabrik.StartAsync(ServerOptions.Parse(["--model-repository", repository.Path, "--model-control-mode=explicit", "--load-model=*"]));
        var pool = host.Server.TensorPool;
        using var client = host.CreateHttpClient();
        var sums = new int[6];
        for (var i = 0; i < sums.Length; i++)
        {
            sums[i] = await SequenceRequests.Accumulate(client, (ulong)(i + 1), i, start: true, end: false);
        }

        async Task<(int Ok, int Refused)> Continue(int sequence)
        {
            var (ok, refused) = (0, 0);
            for (var step = 1; step <= 30; step++)
            {
                var (status, body) = await SequenceRequests.Post(client, "sequence_accumulator", SequenceRequests.AccumulatorJson((ulong)(sequence + 1), step, start: false, end: false));
                if (status == HttpStatusCode.OK)
                {
                    sums[sequence] += step;
                    Assert.Equal(sums[sequence], (int)JsonNode.Parse(body)!["outputs"]![0]!["data"]![0]!);
                    ok++;
                }
                else
                {
                    // Refused before it was accepted, in the client's terms: never a 500, never a lost answer.
                    Assert.True(status is HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"{status}: {body}");
                    refused++;
                }
            }
            return (ok, refused);
        }

        var clients = Enumerable.Range(0, sums.Length).Select(Continue).ToList();
        using (var unload = new StringContent(""))
        {
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v2/repository/models/sequence_accumulator/unload", unload)).StatusCode);
        }
        var results = await Task.WhenAll(clients).WaitAsync(Wait);
        Assert.Equal(sums.Length * 30, results.Sum(result => result.Ok + result.Refused));

        await host.DisposeAsync();
        Fabrik.Testing.PoolLeaks.AssertNoneOutstanding(pool); // the open sequences' state went back
    }

    [Fact]
    public async Task Shutdown_WithOpenSequences_EndsThemAndFreesTheirState()
    {
        using var repository = Repository();
        var host = await Start(repository);
        var pool = host.Server.TensorPool;
        using var client = host.CreateHttpClient();
        for (ulong id = 1; id <= 5; id++)
        {
            Assert.Equal(3, await SequenceRequests.Accumulate(client, id, 3, start: true, end: false));
        }

        await host.DisposeAsync().AsTask().WaitAsync(Wait);

        Fabrik.Testing.PoolLeaks.AssertNoneOutstanding(pool);
    }

    [Theory]
    [InlineData("\"sequence_id\": true, \"sequence_start\": true", "not a boolean")]
    [InlineData("\"sequence_id\": 1.5, \"sequence_start\": true", "unsigned 64-bit integer or a string")]
    [InlineData("\"sequence_id\": 18446744073709551616, \"sequence_start\": true", "unsigned 64-bit integer or a string")]
    [InlineData("\"sequence_id\": -3, \"sequence_start\": true", "non-zero unsigned 64-bit integer")]
    [InlineData("\"sequence_id\": 0, \"sequence_start\": true", "non-zero unsigned 64-bit integer")]
    [InlineData("\"sequence_id\": \"\", \"sequence_start\": true", "must not be an empty string")]
    [InlineData("\"sequence_start\": true", "must specify a non-zero or non-empty correlation ID")]
    [InlineData("\"sequence_id\": 5, \"sequence_start\": \"yes\"", "parameter 'sequence_start' must be true or false")]
    [InlineData("\"sequence_id\": 5, \"sequence_start\": true, \"sequence_end\": 1", "parameter 'sequence_end' must be true or false")]
    [InlineData("\"sequence_id\": 424242", "must specify the START flag")]
    public async Task HostileSequenceParameters_Are400InTheClientsTerms(string parameters, string expected)
    {
        using var repository = Repository();
        await using var host = await Start(repository);
        using var client = host.CreateHttpClient();
        var body = $$"""{"parameters":{ {{parameters}} },"inputs":[{"name":"INPUT","datatype":"INT32","shape":[1,1],"data":[1]}]}""";

        var (status, answer) = await SequenceRequests.Post(client, "sequence_accumulator", body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(expected, answer, StringComparison.Ordinal);
        await StillServing.AssertSimpleAsync(client);
    }

    [Fact]
    public async Task HostileInput_LongIdsBatchesAndGrpcTypes_AreRefused()
    {
        using var repository = Repository();
        await using var host = await Start(repository);
        using var client = host.CreateHttpClient();
        using var channel = host.CreateGrpcChannel();
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);

        var longId = new string('x', SequenceParameters.MaxIdLength + 1);
        var (status, answer) = await SequenceRequests.Post(client, "sequence_accumulator",
            $$"""{"parameters":{"sequence_id":"{{longId}}","sequence_start":true},"inputs":[{"name":"INPUT","datatype":"INT32","shape":[1,1],"data":[1]}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains($"at most {SequenceParameters.MaxIdLength}", answer, StringComparison.Ordinal);

        (status, answer) = await SequenceRequests.Post(client, "sequence_accumulator",
            """{"parameters":{"sequence_id":9,"sequence_start":true},"inputs":[{"name":"INPUT","datatype":"INT32","shape":[2,1],"data":[1,2]}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("must specify batch-size 1", answer, StringComparison.Ordinal);

        var wrongType = await Assert.ThrowsAsync<RpcException>(() => grpc.ModelInferAsync(AccumulatorRequest(new InferParameter { DoubleParam = 2 }, 1, true, false)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, wrongType.StatusCode);
        Assert.Contains("sequence_id", wrongType.Status.Detail, StringComparison.Ordinal);

        var controls = await SequenceRequests.Post(client, "sequence_controls",
            """{"parameters":{"sequence_id":"text","sequence_start":true},"inputs":[{"name":"INPUT","datatype":"INT32","shape":[1,1],"data":[1]}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, controls.Status); // its CORRID is TYPE_UINT64
        Assert.Contains("CONTROL_SEQUENCE_CORRID", controls.Body, StringComparison.Ordinal);
        await StillServing.AssertSimpleAsync(client);
    }

    [Fact]
    public async Task FloodOfStartsWithoutEnds_StaysBoundedAndTheServerServes()
    {
        // 8 slots and a bound of 8 x 64 waiting requests: the rest are refused at once with 503 and
        // Retry-After; nothing grows without limit, and other models keep serving. Then the clock
        // moves on and idle sequences give their slots to the waiting ones, until all are answered.
        var time = new Fabrik.Testing.ManualTimeProvider();
        using var repository = Repository();
        await using var host = await InMemoryFabrik.StartAsync(ServerOptions.Parse(["--model-repository", repository.Path]), time);
        using var client = host.CreateHttpClient();
        var bound = Fabrik.Scheduling.QueueLimits.DefaultMaxQueueSize(1, 8);
        var flood = Enumerable.Range(1, bound + 8 + 100).Select(id => client.PostAsync("/v2/models/sequence_accumulator/infer",
            new StringContent(SequenceRequests.AccumulatorJson((ulong)id, 1, start: true, end: false), Encoding.UTF8, "application/json"))).ToList();

        await Eventually.UntilAsync(() => flood.Count(task => task.IsCompleted) + Batcher(host).QueuedCount == flood.Count, "every start answered or waiting");
        var refused = flood.Where(task => task.IsCompleted && task.Result.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.InRange(refused.Count, 100, 108);
        Assert.All(refused, task => Assert.Equal(TimeSpan.FromSeconds(1), task.Result.Headers.RetryAfter?.Delta));
        Assert.InRange(Batcher(host).QueuedCount, 0, bound);
        Assert.InRange(Batcher(host).LiveSequences, 0, bound + 8);
        await StillServing.AssertSimpleAsync(client);

        await Eventually.UntilAsync(() =>
        {
            time.Advance(TimeSpan.FromSeconds(6));
            return flood.All(task => task.IsCompleted);
        }, "idle sequences released and every waiting start run", Wait);
        Assert.All(flood, task => Assert.True(task.Result.StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable));
        Assert.Equal(flood.Count - refused.Count, flood.Count(task => task.Result.StatusCode == HttpStatusCode.OK));
    }

    private static TemporaryRepository Repository() =>
        new TemporaryRepository().Add("sequence_accumulator").Add("sequence_controls").Add("simple");

    private static async Task<InMemoryFabrik> Start(TemporaryRepository repository) =>
        await InMemoryFabrik.StartAsync("--model-repository", repository.Path);

    private static SequenceBatcher Batcher(InMemoryFabrik host) =>
        host.Server.Models.Models["sequence_accumulator"].Loaded!.Scheduler.Sequences!;

    private static ModelInferRequest AccumulatorRequest(InferParameter id, int value, bool start, bool end)
    {
        var request = new ModelInferRequest { ModelName = "sequence_accumulator" };
        request.Parameters["sequence_id"] = id;
        request.Parameters["sequence_start"] = new InferParameter { BoolParam = start };
        request.Parameters["sequence_end"] = new InferParameter { BoolParam = end };
        var input = new ModelInferRequest.Types.InferInputTensor { Name = "INPUT", Datatype = "INT32" };
        input.Shape.AddRange([1, 1]);
        request.Inputs.Add(input);
        var raw = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(raw, value);
        request.RawInputContents.Add(ByteString.CopyFrom(raw));
        return request;
    }

    private static async Task<int> GrpcAccumulate(GRPCInferenceService.GRPCInferenceServiceClient grpc, string id, int value, bool start, bool end)
    {
        var response = await grpc.ModelInferAsync(AccumulatorRequest(new InferParameter { StringParam = id }, value, start, end));
        return BinaryPrimitives.ReadInt32LittleEndian(response.RawOutputContents[0].Span);
    }
}
