using System.Net;
using Fabrik.Hosting;
using Xunit;

namespace Fabrik.Tests.Hosting;

public sealed class ServerOptionsTests
{
    [Fact]
    public void Parse_NoArguments_ServesModelsOnLoopbackPort8000()
    {
        var options = ServerOptions.Parse([]);
        Assert.Equal(["./models"], options.ModelRepositories);
        Assert.Equal(IPAddress.Loopback, options.HttpAddress);
        Assert.Equal((8000, 8001, 8002), (options.HttpPort, options.GrpcPort, options.MetricsPort));
        Assert.Equal(64L * 1024 * 1024, options.HttpMaxInputSize);
    }

    [Fact]
    public void Parse_TritonFlags_InBothSpellings()
    {
        var options = ServerOptions.Parse([
            "--model-repository=/a", "--model-repository", "/b", "--http-port=9000", "--grpc-port", "9001",
            "--metrics-port=9002", "--http-address=0.0.0.0", "--allow-grpc=false", "--exit-timeout-secs", "5",
        ]);
        Assert.Equal(["/a", "/b"], options.ModelRepositories);
        Assert.Equal((9000, 9001, 9002), (options.HttpPort, options.GrpcPort, options.MetricsPort));
        Assert.Equal(IPAddress.Any, options.HttpAddress);
        Assert.False(options.AllowGrpc);
        Assert.Equal(5, options.ExitTimeoutSeconds);
    }

    [Fact]
    public void Parse_MetricsAndLogFlags_AsTritonSpellsThem()
    {
        var options = ServerOptions.Parse([
            "--allow-gpu-metrics=false", "--allow-cpu-metrics=false", "--metrics-interval-ms", "500",
            "--metrics-config", "summary_latencies=true", "--metrics-config=summary_quantiles=0.5:0.05,0.99:0.001",
            "--metrics-config", "histogram_buckets=0.001,0.01,1", "--metrics-config", "counter_latencies=false",
            "--log-info=false", "--log-warning=true", "--log-format", "ISO8601", "--log-file", "/tmp/fabrik.log", "--log-access=true",
        ]);
        Assert.False(options.Metrics.GpuMetrics);
        Assert.False(options.Metrics.CpuMetrics);
        Assert.Equal(500, options.Metrics.IntervalMilliseconds);
        Assert.True(options.Metrics.SummaryLatencies);
        Assert.False(options.Metrics.CounterLatencies);
        Assert.Equal([(0.5, 0.05), (0.99, 0.001)], options.Metrics.SummaryQuantiles.ToArray());
        Assert.Equal([0.001, 0.01, 1], options.Metrics.LatencyBuckets.ToArray());
        Assert.False(options.Metrics.HistogramLatencies);
        Assert.True(ServerOptions.Parse(["--metrics-config", "histogram_latencies=true"]).Metrics.HistogramLatencies);
        Assert.Empty(options.FlagWarnings);
        Assert.False(options.Logging.Info);
        Assert.True(options.Logging.Warning);
        Assert.Equal(Fabrik.Observability.Logging.LogFormat.Iso8601, options.Logging.Format);
        Assert.Equal("/tmp/fabrik.log", options.Logging.File);
        Assert.True(options.Logging.Access);
    }

    [Fact]
    public void Parse_TraceConfig_InTritonsSyntax()
    {
        var options = ServerOptions.Parse([
            "--trace-config", "mode=opentelemetry", "--trace-config", "opentelemetry,url=collector:4318/v1/traces",
            "--trace-config", "rate=10", "--trace-config", "level=TIMESTAMPS", "--trace-config", "opentelemetry,resource=team=vision",
        ]);
        Assert.True(options.Tracing.Exporting);
        Assert.Equal(new Uri("http://collector:4318/v1/traces"), options.Tracing.Url);
        Assert.Equal(10, options.Tracing.Global.Rate);
        Assert.Equal(Fabrik.Observability.Tracing.TraceLevel.Timestamps, options.Tracing.Global.Level);
        Assert.Equal([new KeyValuePair<string, string>("team", "vision")], options.Tracing.Resource.ToArray());
        Assert.False(ServerOptions.Parse([]).Tracing.Exporting);

        // Triton's default mode is its own trace file; the OpenTelemetry exporter does not run then.
        var triton = ServerOptions.Parse(["--trace-config", "triton,file=traces/t.json", "--trace-config", "level=TIMESTAMPS"]);
        Assert.Equal(Fabrik.Observability.Tracing.TraceMode.Triton, triton.Tracing.Mode);
        Assert.Equal("traces/t.json", triton.Tracing.File);
        Assert.False(triton.Tracing.Exporting);
        Assert.Equal("triton", triton.Tracing.ModeName);
        Assert.Empty(triton.FlagWarnings);
        Assert.Contains(ServerOptions.Parse(["--trace-config", "level=TIMESTAMPS"]).FlagWarnings,
            warning => warning.Contains("without triton,file=PATH writes no traces", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--trace-config=mode=zipkin", "mode takes triton or opentelemetry")]
    [InlineData("--trace-config=jaeger,url=x:1", "unknown trace mode 'jaeger'")]
    [InlineData("--trace-config=triton,log-frequency=50", "unknown setting 'triton,log-frequency'")]
    [InlineData("--trace-config=triton,file=", "triton,file takes a path")]
    [InlineData("--trace-config=rate=0", "trace rate takes an integer of at least 1")]
    [InlineData("--metrics-config=histogram_buckets=0.1,0.01", "histogram_buckets must ascend")]
    [InlineData("--metrics-config=histogram_buckets=0,1", "histogram_buckets takes positive numbers of seconds")]
    [InlineData("--metrics-config=histogram_latencies", "--metrics-config takes key=value")]
    [InlineData("--metrics-config=histogram_latencies=", "--metrics-config takes key=value")]
    [InlineData("--log-format=xml", "--log-format takes default, ISO8601 or json")]
    [InlineData("--no-such-flag", "unknown option '--no-such-flag'")]
    [InlineData("--http-port=70000", "--http-port takes an integer from 0 to 65535")]
    [InlineData("--http-address=localhost:1", "--http-address takes an IP address")]
    [InlineData("--allow-http=maybe", "--allow-http takes true or false")]
    [InlineData("models", "unexpected argument 'models'")]
    [InlineData("--http-port", "--http-port needs a value")]
    public void Parse_BadArgument_NamesIt(string argument, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => ServerOptions.Parse([argument]));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    /// <summary>Triton reads any --metrics-config key and ignores what it does not use; a
    /// true/false key changes only on the value that turns it (core's MetricReporterConfig). Each
    /// of these starts Fabrik with one warning and the setting as it was.</summary>
    [Theory]
    [InlineData("colour=blue", "--metrics-config colour has no effect here")]
    [InlineData("summary_max_age=60", "--metrics-config summary_max_age has no effect here")]
    [InlineData("counter_latencies=False", "counter_latencies takes true or false, got 'False'; it stays true")]
    [InlineData("histogram_latencies=1", "histogram_latencies takes true or false, got '1'; it stays false")]
    [InlineData("summary_latencies=yes", "summary_latencies takes true or false, got 'yes'; it stays false")]
    [InlineData("summary_quantiles=1.5:0.1", "ignored '1.5:0.1'")]
    public void Parse_MetricsConfigKeyOrValueNotActedOn_StartsWithOneWarning(string setting, string warning)
    {
        var options = ServerOptions.Parse(["--metrics-config", setting, "--http-port=9"]);
        Assert.Equal(9, options.HttpPort);
        Assert.Contains(warning, Assert.Single(options.FlagWarnings), StringComparison.Ordinal);
        Assert.Equal(new Fabrik.Observability.Metrics.MetricsSettings(), options.Metrics);
    }

    [Fact]
    public void Parse_SummaryQuantilesWithSomeBadPairs_KeepsTheGoodOnesAndWarns()
    {
        var options = ServerOptions.Parse(["--metrics-config", "summary_quantiles=0.5:0.05,0.9,0.99:0.001"]);
        Assert.Equal([(0.5, 0.05), (0.99, 0.001)], options.Metrics.SummaryQuantiles.ToArray());
        Assert.Contains("ignored '0.9'", Assert.Single(options.FlagWarnings), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_TritonDefaults_ExitOnErrorAndFourLoadThreads()
    {
        var options = ServerOptions.Parse([]);
        Assert.True(options.ExitOnError);
        Assert.Equal(4, options.ModelLoadThreadCount);
        Assert.True(options.AutoCompleteConfig);
        Assert.Equal("fabrik", options.Id);
        Assert.Empty(options.FlagWarnings);
    }

    [Fact]
    public void Parse_ImplementedTritonFlags_SetTheirOptions()
    {
        var options = ServerOptions.Parse([
            "--exit-on-error=false", "--strict-model-config", "true", "--model-load-thread-count", "2",
            "--id=edge-7", "--allow-http", "True", "--allow-grpc=off",
        ]);
        Assert.False(options.ExitOnError);
        Assert.False(options.AutoCompleteConfig);
        Assert.Equal(2, options.ModelLoadThreadCount);
        Assert.Equal("edge-7", options.Id);
        Assert.True(options.AllowHttp);
        Assert.False(options.AllowGrpc);
        Assert.True(ServerOptions.Parse(["--strict-model-config=false"]).AutoCompleteConfig);
    }

    [Fact]
    public void Parse_EveryAcceptedTritonFlag_StartsWithOneWarningAndKeepsTheNextFlag()
    {
        // Each flag in both spellings (=value and a separate value), followed by a flag that must
        // still be read. (TLS and API restrictions are implemented: Tests/Security.)
        foreach (var name in TritonFlags.Names)
        {
            var joined = ServerOptions.Parse([$"--{name}=1", "--http-port=9"]);
            var separate = ServerOptions.Parse([$"--{name}", "1", $"--{name}", "2", "--http-port", "9"]);
            Assert.Equal(9, joined.HttpPort);
            Assert.Equal(9, separate.HttpPort);
            var warning = Assert.Single(separate.FlagWarnings);
            Assert.StartsWith($"--{name} has no effect here: ", warning, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("--model-load-thread-count=0", "--model-load-thread-count takes an integer from 1 to 1024")]
    [InlineData("--id=", "--id takes a name")]
    [InlineData("--exit-on-error=sometimes", "--exit-on-error takes true or false")]
    public void Parse_FlagAskingForWhatIsNotGiven_IsRefusedWithAReason(string argument, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => ServerOptions.Parse([argument]));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_NeitherHttpNorGrpc_IsRefused()
    {
        var error = Assert.Throws<ArgumentException>(() => ServerOptions.Parse(["--allow-http=false", "--allow-grpc=false"]));
        Assert.Contains("leaves no protocol to serve", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AuditLogMaxFiles_NeedsARotatingAuditLog()
    {
        Assert.Equal(3, ServerOptions.Parse(["--audit-log=/tmp/a.jsonl", "--audit-log-max-files=3"]).Security.AuditLogMaxFiles);
        Assert.Equal(0, ServerOptions.Parse(["--audit-log=/tmp/a.jsonl"]).Security.AuditLogMaxFiles);
        Assert.Contains("--audit-log-max-files needs --audit-log", Assert.Throws<ArgumentException>(() => ServerOptions.Parse(["--audit-log-max-files=3"])).Message, StringComparison.Ordinal);
        Assert.Contains("--audit-log-max-files needs --audit-log", Assert.Throws<ArgumentException>(() =>
            ServerOptions.Parse(["--audit-log=/tmp/a.jsonl", "--audit-log-max-size=0", "--audit-log-max-files=3"])).Message, StringComparison.Ordinal);
        Assert.Contains("takes 0 (keep every rotated file)", Assert.Throws<ArgumentException>(() =>
            ServerOptions.Parse(["--audit-log=/tmp/a.jsonl", "--audit-log-max-files=-1"])).Message, StringComparison.Ordinal);
    }
}
