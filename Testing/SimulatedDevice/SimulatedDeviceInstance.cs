using System.Collections.Concurrent;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Execution;
using Fabrik.Execution.Pipeline;
using Fabrik.Tensors;

namespace Fabrik.Testing.SimulatedDevice;

/// <summary>
/// A device simulated by waiting: a copy takes its bytes ÷ <c>copy_gb_per_s</c>, a run takes
/// <c>run_ms_per_batch</c> whatever its rows, each on the thread that calls it (a pipeline gives
/// every stage its own). It computes for real, on its own buffers, so answers can be checked:
/// each output is its input plus one (FP32 or INT32). A row whose first input value is NaN is
/// refused (InvalidArgument, as a model refuses bad values); a negative one fails the whole run
/// as a device fault would. It counts the time its run stage is busy, which is the utilisation the
/// device-sim benchmark reports.
/// </summary>
/// <remarks>Threading: as <see cref="IStagedModelInstance"/> requires; the run and row counters are
/// atomic, the stage counts are kept under one lock with the freeze.</remarks>
internal sealed class SimulatedDeviceInstance : IStagedModelInstance
{
    private readonly ModelConfig _config;
    private readonly SimulatedDeviceSettings _settings;
    private readonly TensorMemoryPool _pool;
    private readonly SimulatedStagingSet _direct;
    private long _busyTicks;
    private long _runStartedAt;
    private long _runs;
    private long _rowsRun;
    private int _copyingIn;
    private int _running;
    private int _copyingOut;

    // Guards the three stage counts and the freeze below, so that a freeze decided when every
    // stage is occupied holds them all: no stage can end while frozen.
    private readonly object _stages = new();
    private bool _freezeArmed;
    private bool _frozen;

    public SimulatedDeviceInstance(ModelConfig config, StagingLayout layout, SimulatedDeviceSettings settings, TensorMemoryPool pool, string device)
    {
        _config = config;
        _settings = settings;
        _pool = pool;
        Layout = layout;
        Device = device;
        _direct = new SimulatedStagingSet(layout, pool) { Index = -1 };
    }

    public string Device { get; }

    public StagingLayout Layout { get; }

    /// <summary>Whether each stage records the tag of every batch it handles (<see cref="CopyInOrder"/>...).</summary>
    public bool RecordsOrder { get; set; }

    /// <summary>The first input value of each batch, in the order its copy-in ended (when recording).</summary>
    public ConcurrentQueue<float> CopyInOrder { get; } = new();

    /// <summary>The same, in the order runs ended.</summary>
    public ConcurrentQueue<float> RunOrder { get; } = new();

    /// <summary>The same, in the order copy-outs ended.</summary>
    public ConcurrentQueue<float> CopyOutOrder { get; } = new();

    /// <summary>Time the run stage has been busy so far, the run in progress included.</summary>
    public TimeSpan BusyTime
    {
        get
        {
            var started = Volatile.Read(ref _runStartedAt);
            var current = started == 0 ? 0 : Stopwatch.GetTimestamp() - started;
            return Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _busyTicks) + current);
        }
    }

    /// <summary>Runs finished (staged or whole).</summary>
    public long Runs => Interlocked.Read(ref _runs);

    /// <summary>Rows of every finished run together.</summary>
    public long RowsRun => Interlocked.Read(ref _rowsRun);

    /// <summary>Batches in each stage now: copying in, running, copying out.</summary>
    public (int CopyingIn, int Running, int CopyingOut) Occupancy
    {
        get
        {
            lock (_stages)
            {
                return (_copyingIn, _running, _copyingOut);
            }
        }
    }

    /// <summary>Makes the device stop every stage from ending as soon as a batch is copying in, one
    /// running and one copying out, until <see cref="Thaw"/>: a test then acts (a client leaving,
    /// an unload, a stop) with batches at every stage for certain, however the threads are timed.</summary>
    public void FreezeAtEveryStage()
    {
        lock (_stages)
        {
            _freezeArmed = true;
        }
    }

    /// <summary>Whether the freeze armed by <see cref="FreezeAtEveryStage"/> holds now.</summary>
    public bool Frozen
    {
        get
        {
            lock (_stages)
            {
                return _frozen;
            }
        }
    }

    /// <summary>Lets the stages end again.</summary>
    public void Thaw()
    {
        lock (_stages)
        {
            _freezeArmed = false;
            _frozen = false;
            Monitor.PulseAll(_stages);
        }
    }

    public StagingSet CreateStagingSet() => new SimulatedStagingSet(Layout, _pool);

    public void CopyIn(StagingSet set) => Copy((SimulatedStagingSet)set, toDevice: true, ref _copyingIn, CopyInOrder);

    public void Run(StagingSet set, TimeSpan? timeLeft)
    {
        var staged = (SimulatedStagingSet)set;
        EnterStage(ref _running);
        var started = Stopwatch.GetTimestamp();
        Volatile.Write(ref _runStartedAt, started);
        try
        {
            if (timeLeft is { } left && left < _settings.RunTime)
            {
                WaitUntil(started, left < TimeSpan.Zero ? TimeSpan.Zero : left);
                throw new InferenceException(ErrorKind.DeadlineExceeded, $"model '{_config.Name}': the request's timeout passed during the run, which was stopped");
            }
            WaitUntil(started, _settings.RunTime);
            for (var i = 0; i < Layout.Inputs.Length; i++)
            {
                Compute(Layout.Inputs[i].DataType, staged.DeviceInputs[i].AsSpan(0, staged.Input(i).Length), staged.DeviceOutputs[i], i == 0 ? Layout.InputRowBytes[0] : 0);
            }
            Interlocked.Increment(ref _runs);
            Interlocked.Add(ref _rowsRun, set.Rows);
            Record(RunOrder, staged.DeviceInputs[0]);
        }
        finally
        {
            Volatile.Write(ref _runStartedAt, 0);
            Interlocked.Add(ref _busyTicks, Stopwatch.GetTimestamp() - started);
            LeaveStage(ref _running);
        }
    }

    public void CopyOut(StagingSet set) => Copy((SimulatedStagingSet)set, toDevice: false, ref _copyingOut, CopyOutOrder);

    /// <summary>Copies the set's inputs to the device, or its outputs back, and waits as long as
    /// that many bytes take at the configured rate.</summary>
    private void Copy(SimulatedStagingSet set, bool toDevice, ref int stage, ConcurrentQueue<float> order)
    {
        EnterStage(ref stage);
        var started = Stopwatch.GetTimestamp();
        long bytes = 0;
        var count = toDevice ? Layout.Inputs.Length : Layout.Outputs.Length;
        for (var i = 0; i < count; i++)
        {
            var length = (int)((toDevice ? Layout.InputRowBytes[i] : Layout.OutputRowBytes[i]) * set.Rows);
            if (toDevice)
            {
                set.HostInput(i)[..length].CopyTo(set.DeviceInputs[i]);
            }
            else
            {
                set.DeviceOutputs[i].AsSpan(0, length).CopyTo(set.HostOutput(i));
            }
            bytes += length;
        }
        WaitUntil(started, _settings.CopyTime(bytes));
        Record(order, set.DeviceInputs[0]);
        LeaveStage(ref stage);
    }

    private void EnterStage(ref int stage)
    {
        lock (_stages)
        {
            stage++;
            if (_freezeArmed && _copyingIn > 0 && _running > 0 && _copyingOut > 0)
            {
                _freezeArmed = false;
                _frozen = true;
            }
        }
    }

    private void LeaveStage(ref int stage)
    {
        lock (_stages)
        {
            while (_frozen)
            {
                Monitor.Wait(_stages);
            }
            stage--;
        }
    }

    /// <summary>One batch through the three steps in turn, on the caller's thread.</summary>
    public TensorBuffer[] Run(TensorBuffer?[] inputs, ref ExecutionTimings timings, TimeSpan? timeLeft) =>
        WholeBatch.Run(this, _direct, inputs, _pool, _config.Name, ref timings, timeLeft);

    /// <summary>output = input + 1; checks each row's first value when <paramref name="rowBytes"/>
    /// is given (the first input).</summary>
    private void Compute(DataType type, ReadOnlySpan<byte> input, Span<byte> output, long rowBytes)
    {
        if (type == DataType.Fp32)
        {
            PlusOne<float>(input, output, rowBytes);
        }
        else
        {
            PlusOne<int>(input, output, rowBytes);
        }
    }

    private void PlusOne<T>(ReadOnlySpan<byte> input, Span<byte> output, long rowBytes)
        where T : unmanaged, INumber<T>
    {
        var values = MemoryMarshal.Cast<byte, T>(input);
        var results = MemoryMarshal.Cast<byte, T>(output);
        var rowElements = rowBytes / Unsafe.SizeOf<T>();
        for (long row = 0; rowElements > 0 && row * rowElements < values.Length; row++)
        {
            Check(float.CreateTruncating(values[(int)(row * rowElements)]), row);
        }
        for (var i = 0; i < values.Length; i++)
        {
            results[i] = values[i] + T.One;
        }
    }

    private void Check(float first, long row)
    {
        if (float.IsNaN(first))
        {
            throw new InferenceException(ErrorKind.InvalidArgument, $"model '{_config.Name}' refuses row {row}: its first value is NaN");
        }
        if (first < 0)
        {
            throw new InvalidOperationException($"the simulated device faulted on row {row}, whose first value is negative");
        }
    }

    private void Record(ConcurrentQueue<float> order, byte[] deviceInput)
    {
        if (RecordsOrder)
        {
            var first = Layout.Inputs[0].DataType == DataType.Fp32 ? BitConverter.ToSingle(deviceInput) : BitConverter.ToInt32(deviceInput);
            order.Enqueue(first);
        }
    }

    /// <summary>Waits until <paramref name="duration"/> after <paramref name="started"/>.</summary>
    private static void WaitUntil(long started, TimeSpan duration) =>
        DeviceClock.WaitUntil(started + (long)(duration.TotalSeconds * Stopwatch.Frequency));

    public void Dispose() => _direct.Dispose();
}
