using System.Collections.Immutable;
using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Inference;
using Fabrik.Models;
using Fabrik.Tensors;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Fabrik.Tests.Scheduling.Sequences;

/// <summary>
/// The direct strategy as the model sees it, slot by slot, over an instance that holds each batch
/// until the test lets it go: a sequence keeps its slot from START to END, row r of a batch is slot
/// r, empty rows are READY 0, START is 1 only on a sequence's first request and END on its last,
/// and CORRID carries the id. The expected rows are written out here, not computed by the batcher.
/// </summary>
public sealed class SequenceSlotTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly TensorMemoryPool _pool = new();
    private readonly RecordingInstance _instance;
    private readonly LoadedModel _model;

    public SequenceSlotTests()
    {
        _instance = new RecordingInstance(_pool);
        var controls = ImmutableArray.Create(
            new SequenceControlInput("START", SequenceControlKind.Start, DataType.Int32, 0, 1),
            new SequenceControlInput("END", SequenceControlKind.End, DataType.Int32, 0, 1),
            new SequenceControlInput("READY", SequenceControlKind.Ready, DataType.Int32, 0, 1),
            new SequenceControlInput("CORRID", SequenceControlKind.CorrelationId, DataType.UInt64, 0, 0));
        var config = new ModelConfig
        {
            Name = "slots",
            Platform = "onnxruntime_onnx",
            MaxBatchSize = 4,
            Inputs = [new TensorConfig("INPUT", DataType.Int32, [1])],
            Outputs = [new TensorConfig("OUTPUT", DataType.Int32, [1])],
            SequenceBatching = new SequenceBatchingConfig { Controls = controls },
        };
        _model = LoadedModel.Create(config, 1, [_instance], _pool, Time, NullLoggerFactory.Instance);
    }

    private ManualTimeProvider Time { get; } = new();

    [Fact]
    public async Task Direct_RowsAreSlots_EmptySlotsNotReady_ControlsPerRequest()
    {
        var first = Infer(11, 1, start: true);
        _instance.WaitStarted();
        var second = Infer(12, 2, start: true);
        var third = Infer(13, 3, start: true);
        _instance.Release();
        Assert.Equal(new[] { 1 }, await first);
        _instance.WaitStarted();
        _instance.Release();
        Assert.Equal(new[] { 2 }, await second);
        Assert.Equal(new[] { 3 }, await third);
        var last = Infer(12, 5, end: true);
        _instance.WaitStarted();
        _instance.Release();
        Assert.Equal(new[] { 5 }, await last);

        var runs = _instance.Runs.ToArray();
        Assert.Equal(3, runs.Length);
        // Inputs in the backend's order: INPUT, START, END, READY, CORRID.
        Assert.Equal<long[][]>([[1], [1], [0], [1], [11]], runs[0]);
        // Slot 0 (sequence 11) has no request waiting: its row is empty (zeros, CORRID 0) and not ready.
        Assert.Equal<long[][]>([[0, 2, 3], [0, 1, 1], [0, 0, 0], [0, 1, 1], [0, 12, 13]], runs[1]);
        Assert.Equal<long[][]>([[0, 5], [0, 0], [0, 1], [0, 1], [0, 12]], runs[2]);
        Assert.Equal(4, _model.Statistics.Success.Count);
        Assert.Equal((4L, 3L), (_model.Statistics.InferenceCount, _model.Statistics.ExecutionCount)); // the empty rows are nobody's inferences
    }

    [Fact]
    public void Direct_RequestWithoutStartForUnknownId_IsRefusedNamingTheSequence()
    {
        using var request = Request(77, 1, start: false, end: false);
        var error = Assert.Throws<InferenceException>(() => { _ = _model.Scheduler.InferAsync(request); });

        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("sequence 77", error.Message, StringComparison.Ordinal);
        Assert.Contains("START", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Direct_AfterEnd_TheIdIsForgotten()
    {
        var only = Infer(5, 1, start: true, end: true);
        _instance.WaitStarted();
        _instance.Release();
        Assert.Equal(new[] { 1 }, await only);
        await Eventually.UntilAsync(() => _model.Scheduler.Sequences!.LiveSequences == 0, "the sequence is released");

        using var late = Request(5, 2, start: false, end: false);
        Assert.Throws<InferenceException>(() => { _ = _model.Scheduler.InferAsync(late); });
    }

    private async Task<int[]> Infer(ulong id, int value, bool start = false, bool end = false)
    {
        using var request = Request(id, value, start, end);
        using var response = await _model.Scheduler.InferAsync(request).WaitAsync(Wait);
        return response.Outputs[0].As<int>().ToArray();
    }

    private InferenceRequest Request(ulong id, int value, bool start, bool end)
    {
        var input = new TensorBuffer(_pool, DataType.Int32, [1, 1], 1, 4);
        input.As<int>()[0] = value;
        return new InferenceRequest([input], 1)
        {
            Parameters = new Dictionary<string, object> { ["sequence_id"] = id, ["sequence_start"] = start, ["sequence_end"] = end },
        };
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        for (var i = 0; i < 10; i++)
        {
            _instance.Release();
        }
        await _model.DisposeAsync();
    }
}
