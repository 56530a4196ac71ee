using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Fabrik.Testing.Load;

/// <summary>Writes a sweep as CSV (perf_analyzer's column names where it has them; times in µs),
/// as JSON beside it, and as an SVG plot of latency against throughput.</summary>
public static class LoadReport
{
    public static void Write(string csvPath, LoadOptions options, IReadOnlyList<StepResult> results)
    {
        var csv = new StringBuilder();
        csv.AppendLine($"{results.FirstOrDefault()?.Mode ?? "Concurrency"},Inferences/Second,Server Queue,Server Compute Input,Server Compute Infer,Server Compute Output,p50 latency,p90 latency,p95 latency,p99 latency,Avg latency,Errors,Stable");
        foreach (var r in results)
        {
            csv.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Load},{r.InferencesPerSecond:F1},{r.ServerQueue:F0},{r.ServerComputeInput:F0},{r.ServerComputeInfer:F0},{r.ServerComputeOutput:F0},{r.P50:F0},{r.P90:F0},{r.P95:F0},{r.P99:F0},{r.Average:F0},{r.Errors},{(r.Stable ? "yes" : "no")}"));
        }
        File.WriteAllText(csvPath, csv.ToString());
        File.WriteAllText(Path.ChangeExtension(csvPath, ".json"), JsonSerializer.Serialize(new
        {
            model = options.Model,
            url = options.Url,
            protocol = options.Protocol.ToString(),
            client = options.Client.ToString(),
            shared_memory = options.SharedMemory.ToString().ToLowerInvariant(),
            batch_size = options.BatchSize,
            measurement_interval_ms = options.MeasurementIntervalMilliseconds,
            stability_percentage = options.StabilityPercentage,
            results,
        }, new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.ChangeExtension(csvPath, ".svg"), Plot(options, results));
    }

    /// <summary>p50 and p99 latency (y) against throughput (x), one point per step.</summary>
    public static string Plot(LoadOptions options, IReadOnlyList<StepResult> results)
    {
        const int width = 720, height = 440, left = 70, right = 20, top = 40, bottom = 50;
        var maxX = Math.Max(1, results.Count == 0 ? 1 : results.Max(r => r.InferencesPerSecond)) * 1.1;
        var maxY = Math.Max(1, results.Count == 0 ? 1 : results.Max(r => r.P99)) * 1.1;
        string X(double v) => (left + v / maxX * (width - left - right)).ToString("F1", CultureInfo.InvariantCulture);
        string Y(double v) => (height - bottom - v / maxY * (height - top - bottom)).ToString("F1", CultureInfo.InvariantCulture);
        var svg = new StringBuilder();
        svg.AppendLine(string.Create(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">"));
        svg.AppendLine("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
        svg.AppendLine(string.Create(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"22\" font-size=\"14\">{options.Model} over {options.Protocol}, batch {options.BatchSize}: latency against throughput</text>"));
        svg.AppendLine($"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{width - right}\" y2=\"{height - bottom}\" stroke=\"black\"/>");
        svg.AppendLine($"<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{height - bottom}\" stroke=\"black\"/>");
        for (var i = 0; i <= 5; i++)
        {
            var xv = maxX * i / 5;
            var yv = maxY * i / 5;
            svg.AppendLine(string.Create(CultureInfo.InvariantCulture, $"<text x=\"{X(xv)}\" y=\"{height - bottom + 18}\" text-anchor=\"middle\">{xv:F0}</text>"));
            svg.AppendLine(string.Create(CultureInfo.InvariantCulture, $"<text x=\"{left - 6}\" y=\"{Y(yv)}\" text-anchor=\"end\">{yv:F0}</text>"));
        }
        svg.AppendLine($"<text x=\"{(left + width - right) / 2}\" y=\"{height - 12}\" text-anchor=\"middle\">inferences per second</text>");
        svg.AppendLine($"<text x=\"16\" y=\"{(top + height - bottom) / 2}\" transform=\"rotate(-90 16 {(top + height - bottom) / 2})\" text-anchor=\"middle\">latency (µs)</text>");
        foreach (var (name, color, metric) in new (string, string, Func<StepResult, double>)[] { ("p50", "#1f77b4", r => r.P50), ("p99", "#d62728", r => r.P99) })
        {
            var points = string.Join(" ", results.Select(r => $"{X(r.InferencesPerSecond)},{Y(metric(r))}"));
            svg.AppendLine($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{points}\"/>");
            foreach (var r in results)
            {
                svg.AppendLine($"<circle cx=\"{X(r.InferencesPerSecond)}\" cy=\"{Y(metric(r))}\" r=\"3\" fill=\"{color}\"><title>{r.Mode} {r.Load}: {name} {metric(r).ToString("F0", CultureInfo.InvariantCulture)} µs</title></circle>");
            }
        }
        svg.AppendLine($"<text x=\"{width - right - 90}\" y=\"{top + 10}\" fill=\"#1f77b4\">p50</text><text x=\"{width - right - 50}\" y=\"{top + 10}\" fill=\"#d62728\">p99</text>");
        svg.AppendLine("</svg>");
        return svg.ToString();
    }
}
