using Fabrik.Testing.Load;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Load;

/// <summary>The perf_analyzer-style load generator against the real server, over each protocol:
/// it measures, reads the server's split, and writes CSV, JSON and an SVG plot.</summary>
[Collection(KestrelServerCollection.Name)]
public sealed class LoadGeneratorTests(KestrelServerFixture fixture)
{
    [Theory]
    [InlineData("http", "json", "mlp")]
    [InlineData("http", "binary", "simple")]
    [InlineData("grpc", "binary", "strings")]
    public async Task Load_ConcurrencySweep_MeasuresAndWritesCsvJsonAndPlot(string protocol, string format, string model)
    {
        var server = protocol == "grpc" ? fixture.Server.GrpcAddress! : fixture.Server.HttpAddress!;
        var directory = Directory.CreateTempSubdirectory("fabrik-load-").FullName;
        try
        {
            var csv = Path.Combine(directory, "results.csv");
            var options = LoadOptions.Parse(["-m", model, "-u", $"{server.Host}:{server.Port}", "-i", protocol, "--http-format", format,
                "--concurrency-range", "1:3:2", "-p", "150", "-r", "3", "-f", csv]);

            var results = await new LoadGenerator(options, TextWriter.Null).RunAsync(default);
            LoadReport.Write(csv, options, results);

            Assert.Equal([1, 3], results.Select(r => r.Load));
            Assert.All(results, r =>
            {
                Assert.Equal(0, r.Errors);
                Assert.True(r.InferencesPerSecond > 0);
                Assert.True(r.P50 > 0 && r.P50 <= r.P90 && r.P90 <= r.P99);
                Assert.True(r.ServerComputeInfer > 0, "the server-side split is missing");
            });
            var lines = File.ReadAllLines(csv);
            Assert.StartsWith("Concurrency,Inferences/Second,", lines[0], StringComparison.Ordinal);
            Assert.Equal(3, lines.Length);
            Assert.Contains("\"results\"", File.ReadAllText(Path.ChangeExtension(csv, ".json")), StringComparison.Ordinal);
            var svg = File.ReadAllText(Path.ChangeExtension(csv, ".svg"));
            Assert.StartsWith("<svg", svg, StringComparison.Ordinal);
            Assert.Equal(2, svg.Split("<polyline").Length - 1);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("--concurrency-range", "0:2")]
    [InlineData("-i", "udp")]
    [InlineData("--bogus", "1")]
    public void Parse_BadFlag_NamesIt(string flag, string value)
    {
        var error = Assert.Throws<ArgumentException>(() => LoadOptions.Parse(["-m", "simple", flag, value]));
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }
}
