using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Fabrik.Testing.SimulatedDevice;

/// <summary>
/// Waits until a moment on the Stopwatch clock without spinning, so that the simulated device's
/// waits leave the cores to the server and the clients that share them. On Linux, where the
/// Stopwatch reads CLOCK_MONOTONIC in nanoseconds, it sleeps with clock_nanosleep to that
/// absolute moment (precise to tens of microseconds); elsewhere, or if the clocks do not agree,
/// with Thread.Sleep in whole milliseconds.
/// </summary>
internal static partial class DeviceClock
{
    private const int ClockMonotonic = 1;
    private const int AbsoluteTime = 1;
    private const int Interrupted = 4; // EINTR

    private static readonly bool Precise = CheckPrecise();

    public static void WaitUntil(long stopwatchTimestamp)
    {
        if (Precise)
        {
            var moment = new Timespec(stopwatchTimestamp / 1_000_000_000, stopwatchTimestamp % 1_000_000_000);
            while (ClockNanosleep(ClockMonotonic, AbsoluteTime, in moment, IntPtr.Zero) == Interrupted)
            {
            }
            return;
        }
        while (Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), stopwatchTimestamp) is { Ticks: > 0 } left)
        {
            Thread.Sleep(Math.Max(1, (int)left.TotalMilliseconds));
        }
    }

    /// <summary>Whether clock_nanosleep can be used: Linux, and the Stopwatch counting
    /// nanoseconds on CLOCK_MONOTONIC (checked against clock_gettime).</summary>
    private static bool CheckPrecise()
    {
        if (!OperatingSystem.IsLinux() || Stopwatch.Frequency != 1_000_000_000)
        {
            return false;
        }
        try
        {
            var before = Stopwatch.GetTimestamp();
            if (ClockGettime(ClockMonotonic, out var now) != 0)
            {
                return false;
            }
            var monotonic = (now.Seconds * 1_000_000_000) + now.Nanoseconds;
            return Math.Abs(monotonic - before) < 1_000_000;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "clock_nanosleep")]
    private static partial int ClockNanosleep(int clock, int flags, in Timespec request, IntPtr remaining);

    [LibraryImport("libc.so.6", EntryPoint = "clock_gettime")]
    private static partial int ClockGettime(int clock, out Timespec time);

    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct Timespec(long Seconds, long Nanoseconds);
}
