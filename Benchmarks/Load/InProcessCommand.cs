using System.Diagnostics;
using System.Globalization;
using Fabrik.Execution.OnnxRuntime;
using Microsoft.ML.OnnxRuntime;

namespace Fabrik.Benchmarks.Load;

/// <summary>
/// <c>-- inprocess --model PATH [--batch N] [--sessions N] [--gpu N] [--seconds S]</c>: ONNX Runtime
/// alone, with no server, on a model whose one input is FP32 with a leading batch dimension: each
/// session runs Run in a loop on its own thread, all at once, on the CPU with the threads Fabrik
/// gives an instance by default, or on CUDA device N. Prints images per second over all sessions
/// (the "ONNX Runtime in process" side of served ÷ in process).
/// </summary>
public static class InProcessCommand
{
    public static int Run(string[] args)
    {
        string? model = null;
        int batch = 1, sessions = 1, seconds = 10;
        int? gpu = null;
        for (var i = 0; i < args.Length; i++)
        {
            int Integer() => int.Parse(args[++i], NumberStyles.None, CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--model": model = args[++i]; break;
                case "--batch": batch = Integer(); break;
                case "--sessions": sessions = Integer(); break;
                case "--gpu": gpu = Integer(); break;
                case "--seconds": seconds = Integer(); break;
                default: throw new ArgumentException($"inprocess: unknown option '{args[i]}'");
            }
        }
        if (model is null || batch < 1 || sessions < 1 || seconds < 1)
        {
            throw new ArgumentException("inprocess: --model PATH is required; --batch, --sessions and --seconds are at least 1");
        }
        var imagesPerSecond = Measure(model, batch, sessions, gpu, TimeSpan.FromSeconds(seconds));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"in-process ONNX Runtime {Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(model)))} batch {batch}, {sessions} session(s) on {(gpu is { } g ? $"GPU {g}" : "the CPU")}: {imagesPerSecond:F1} images/s"));
        return 0;
    }

    /// <summary>Images per second over <paramref name="sessionCount"/> sessions running at once,
    /// each on its own thread calling Run in a loop. On the CPU each session gets the threads
    /// Fabrik gives one of <paramref name="threadsSharedBy"/> instances (default: the sessions).</summary>
    public static double Measure(string path, int batch, int sessionCount, int? gpu, TimeSpan duration, int? threadsSharedBy = null)
    {
        var sessions = new InferenceSession[sessionCount];
        for (var s = 0; s < sessionCount; s++)
        {
            using var options = gpu is { } device
                ? SessionOptions.MakeSessionOptionWithCudaProvider(device)
                : OnnxRuntimeSettings.Defaults(threadsSharedBy ?? sessionCount).CreateSessionOptions();
            sessions[s] = new InferenceSession(path, options);
        }
        var input = sessions[0].InputMetadata.Single();
        var output = sessions[0].OutputMetadata.First().Key;
        long[] shape = [batch, .. input.Value.Dimensions.Skip(1).Select(d => (long)d)];
        var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (i % 97) / 97f;
        }

        var runs = new int[sessionCount];
        using var measuring = new Barrier(sessionCount + 1);
        var threads = new Thread[sessionCount];
        for (var s = 0; s < sessionCount; s++)
        {
            var index = s;
            threads[s] = new Thread(() =>
            {
                using var value = OrtValue.CreateTensorValueFromMemory(data, shape);
                using var runOptions = new RunOptions();
                string[] inputs = [input.Key], outputs = [output];
                for (var i = 0; i < 5; i++)
                {
                    using var warm = sessions[index].Run(runOptions, inputs, [value], outputs);
                }
                measuring.SignalAndWait();
                var started = Stopwatch.GetTimestamp();
                while (Stopwatch.GetElapsedTime(started) < duration)
                {
                    using var result = sessions[index].Run(runOptions, inputs, [value], outputs);
                    runs[index]++;
                }
            });
            threads[s].Start();
        }
        measuring.SignalAndWait();
        var begun = Stopwatch.GetTimestamp();
        foreach (var thread in threads)
        {
            thread.Join();
        }
        var imagesPerSecond = runs.Sum() * (double)batch / Stopwatch.GetElapsedTime(begun).TotalSeconds;
        foreach (var session in sessions)
        {
            session.Dispose();
        }
        return imagesPerSecond;
    }
}
