using Fabrik.Observability.Metrics;
using Fabrik.Tests.Support;
using Xunit;
using PrometheusFormat = Prometheus.ExpositionFormat;

namespace Fabrik.Tests.Observability;

/// <summary>
/// A scrape taken while requests record must still be a valid exposition: each histogram's
/// <c>_count</c> equal to its <c>+Inf</c> bucket, buckets that never fall. The exporter is driven
/// through the same .NET Histogram the request path records into, and each scrape is read by the
/// tests' own exposition parser, which rejects a histogram that breaks those rules.
/// </summary>
public sealed class ScrapeConsistencyTests
{
    private static readonly string Model = "m";
    private static readonly string Version = "1";

    [Fact]
    public async Task ScrapesDuringRecording_EachHistogramIsReadAtOneInstant_AndNoObservationIsLost()
    {
        using var meter = new FabrikMeter();
        using var exporter = new PrometheusExporter(meter, new MetricsSettings());
        var histogram = meter.Add(meter.Meter.CreateHistogram<double>("test_duration_seconds", description: "test"),
            new InstrumentShape(FabrikMeter.ModelLabels) { Buckets = [1, 2, 4, 8] });

        using var stop = new CancellationTokenSource();
        var recorders = Enumerable.Range(0, Math.Max(2, Environment.ProcessorCount)).Select(seed => Task.Run(() =>
        {
            // Whole values keep the expected sum exact in doubles.
            var random = new Random(seed);
            var (count, sum) = (0L, 0d);
            while (!stop.IsCancellationRequested)
            {
                var value = (double)random.Next(0, 10);
                histogram.Record(value, new("model", Model), new("version", Version));
                count++;
                sum += value;
            }
            return (count, sum);
        })).ToArray();

        var scrapes = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(3);
        while (DateTime.UtcNow < deadline || scrapes < 200)
        {
            var families = await ScrapeAsync(exporter);
            if (families.ContainsKey("test_duration_seconds"))
            {
                scrapes++;
            }
        }
        await stop.CancelAsync();
        var recorded = await Task.WhenAll(recorders);

        var final = (await ScrapeAsync(exporter))["test_duration_seconds"].Samples;
        Assert.Equal(recorded.Sum(r => r.count), final.Single(s => s.Name == "test_duration_seconds_count").Value);
        Assert.Equal(recorded.Sum(r => r.sum), final.Single(s => s.Name == "test_duration_seconds_sum").Value);
        Assert.Equal(0, exporter.ParkedObservations);
    }

    /// <summary>Parses one scrape; the parser throws on a histogram whose count and buckets disagree.</summary>
    private static async Task<IReadOnlyDictionary<string, PrometheusFamily>> ScrapeAsync(PrometheusExporter exporter)
    {
        using var text = await exporter.ScrapeAsync(PrometheusFormat.PrometheusText, CancellationToken.None);
        using var reader = new StreamReader(text);
        return ExpositionParser.Parse(await reader.ReadToEndAsync(), ExpositionFormat.PrometheusText);
    }
}
