using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>The strict exposition parser the metrics tests rely on: every rule it checks refuses
/// a text that breaks it (naming the rule), and the specifications' own examples parse to the
/// values they spell out.</summary>
public sealed class ExpositionParserTests
{
    private const ExpositionFormat Text = ExpositionFormat.PrometheusText;
    private const ExpositionFormat Open = ExpositionFormat.OpenMetrics;

    private const string Histogram = "# TYPE h histogram\n";
    private const string Summary = "# TYPE s summary\n";

    /// <summary>A malformed exposition, its format, and words the refusal must contain.</summary>
    public static readonly TheoryData<string, ExpositionFormat, string, string> Malformed = new()
    {
        { "no line feed at the end", Text, "a 1", "does not end with a line feed" },
        { "name starting with a digit", Text, "1a 1\n", "expected a metric name" },
        { "name with a dash", Text, "a-b 1\n", "expected a blank before the value" },
        { "label name starting with a digit", Text, "a{1x=\"v\"} 1\n", "expected a label name" },
        { "reserved label name", Text, "a{__x=\"v\"} 1\n", "is reserved" },
        { "label twice", Text, "a{x=\"1\",x=\"2\"} 1\n", "appears twice in one label set" },
        { "label value not closed", Text, "a{x=\"v} 1\n", "not closed" },
        { "label value not quoted", Text, "a{x=v} 1\n", "expected '\"'" },
        { "undefined escape in a label value", Text, "a{x=\"\\t\"} 1\n", "invalid escape sequence" },
        { "backslash escaping the closing quote", Text, "a{x=\"v\\\"} 1\n", "not closed" },
        { "empty label set in 0.0.4", Text, "a{} 1\n", "empty label set" },
        { "quote escaped in a 0.0.4 HELP", Text, "# HELP a say \\\"hi\\\"\na 1\n", "invalid escape sequence" },
        { "two HELP lines", Text, "# HELP a x\n# HELP a y\na 1\n", "a second HELP line" },
        { "two TYPE lines", Text, "# TYPE a gauge\n# TYPE a gauge\na 1\n", "a second TYPE line" },
        { "TYPE after the samples", Text, "a 1\n# TYPE a gauge\n", "after its samples" },
        { "unknown type", Text, "# TYPE a timer\na 1\n", "is not a metric type" },
        { "OpenMetrics type in 0.0.4", Text, "# TYPE a stateset\n", "is not a metric type" },
        { "family split in two", Text, "a 1\nb 1\na 2\n", "appears again" },
        { "histogram sample without a suffix", Text, Histogram + "h 1\n", "does not fit the histogram family" },
        { "bucket without le", Text, Histogram + "h_bucket 1\nh_count 1\n", "without an 'le' label" },
        { "le that is not a number", Text, Histogram + "h_bucket{le=\"fast\"} 1\nh_count 1\n", "is not a number" },
        { "buckets out of order", Text, Histogram + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", "not in increasing order" },
        { "buckets not cumulative", Text, Histogram + "h_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 3\nh_count 3\n", "not cumulative" },
        { "no +Inf bucket", Text, Histogram + "h_bucket{le=\"1\"} 1\nh_count 1\n", "no le=\"+Inf\" bucket" },
        { "_count unlike the +Inf bucket", Text, Histogram + "h_bucket{le=\"+Inf\"} 4\nh_count 5\n", "is not the +Inf bucket's" },
        { "histogram without _count", Text, Histogram + "h_bucket{le=\"+Inf\"} 4\nh_sum 2\n", "has no h_count" },
        { "histogram _count without buckets", Text, Histogram + "h_sum 1\nh_count 1\n", "has no buckets" },
        { "le on a histogram's _sum", Text, Histogram + "h_bucket{le=\"+Inf\"} 1\nh_sum{le=\"1\"} 1\nh_count 1\n", "only a histogram's _bucket samples" },
        { "quantile above 1", Text, Summary + "s{quantile=\"1.5\"} 3\n", "is not between 0 and 1" },
        { "summary value without quantile", Text, Summary + "s 3\n", "needs a 'quantile' label" },
        { "quantiles out of order", Text, Summary + "s{quantile=\"0.9\"} 3\ns{quantile=\"0.5\"} 2\n", "not in increasing order" },
        { "negative counter", Text, "# TYPE c counter\nc -1\n", "a counter is NaN or negative" },
        { "NaN counter", Text, "# TYPE c counter\nc NaN\n", "a counter is NaN or negative" },
        { "value that is not a number", Text, "a one\n", "is not a number" },
        { "value past a 64-bit float", Text, "a 1e999\n", "does not fit a 64-bit float" },
        { "signed NaN", Text, "a -NaN\n", "is not a number" },
        { "hexadecimal value", Text, "a 0x10\n", "is not a number" },
        { "timestamp with a fraction", Text, "a 1 1.5\n", "not an int64" },
        { "a token after the timestamp", Text, "a 1 2 3\n", "at the end of the line" },
        { "a series twice", Text, "a{x=\"1\"} 1\na{x=\"1\"} 2\n", "appears twice" },
        { "one sample name in two families", Text, Histogram + "h_bucket{le=\"+Inf\"} 1\nh_count 1\n# TYPE h_count gauge\nh_count 2\n", "belongs to family h as well as h_count" },
        { "carriage return", Text, "a 1\r\n", "carriage return" },
        { "byte-order mark", Text, "\uFEFFa 1\n", "byte-order mark" },
        { "no # EOF", Open, "# TYPE a gauge\na 1\n", "does not end with '# EOF'" },
        { "a line after # EOF", Open, "a 1\n# EOF\nb 1\n", "does not end with '# EOF'" },
        { "# EOF twice", Open, "# EOF\na 1\n# EOF\n", "'# EOF' before the end" },
        { "counter without _total", Open, "# TYPE c counter\nc 1\n# EOF\n", "does not fit the counter family" },
        { "empty line", Open, "a 1\n\nb 1\n# EOF\n", "an empty line" },
        { "comment", Open, "# just saying\na 1\n# EOF\n", "a comment line" },
        { "two spaces between tokens", Open, "a  1\n# EOF\n", "more than one space" },
        { "trailing comma in a label set", Open, "a{x=\"1\",} 1\n# EOF\n", "a trailing ','" },
        { "HELP without its space", Open, "# HELP a\na 1\n# EOF\n", "expected one space before the help text" },
        { "unit that is not the name's suffix", Open, "# TYPE a_seconds gauge\n# UNIT a_seconds bytes\n# EOF\n", "is not the suffix" },
        { "label sets interleaved", Open, Summary + "s_count{a=\"1\"} 1\ns_count{a=\"2\"} 1\ns_sum{a=\"1\"} 1\n# EOF\n", "interleaved" },
        { "exemplar on a gauge", Open, "# TYPE g gauge\ng 1 # {trace_id=\"x\"} 1\n# EOF\n", "an exemplar on g" },
        { "exemplar above its bucket", Open, Histogram + "h_bucket{le=\"1\"} 1 # {} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n# EOF\n", "lies above its bucket" },
        { "count that is not an integer", Open, Histogram + "h_bucket{le=\"+Inf\"} 1.5\nh_count 1.5\nh_sum 1\n# EOF\n", "not an integer" },
        { "_sum without _count", Open, Histogram + "h_bucket{le=\"+Inf\"} 1\nh_sum 1\n# EOF\n", "has no h_count" },
        { "label name with a leading underscore", Open, "a{_x=\"1\"} 1\n# EOF\n", "is reserved" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Parse_MalformedExposition_IsRefusedNamingTheRule(string why, ExpositionFormat format, string text, string reason)
    {
        var error = Assert.Throws<ExpositionException>(() => ExpositionParser.Parse(text, format));
        Assert.True(error.Reason.Contains(reason, StringComparison.Ordinal), $"{why}: refused with '{error.Message}', expected a reason containing '{reason}'");
    }

    [Fact]
    public void Parse_TheTextFormatSpecificationsExample_ReadsItsValues()
    {
        // The example of prometheus.io's "Exposition formats" (text format details), with the
        // summary's quantiles and escapes as written there.
        const string example = """
            # HELP http_requests_total The total number of HTTP requests.
            # TYPE http_requests_total counter
            http_requests_total{method="post",code="200"} 1027 1395066363000
            http_requests_total{method="post",code="400"}    3 1395066363000

            # Escaping in label values:
            msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

            # Minimalistic line:
            metric_without_timestamp_and_labels 12.47

            # A weird metric from before the epoch:
            something_weird{problem="division by zero"} +Inf -3982045

            # A histogram, which has a pretty complex representation in the text format:
            # HELP http_request_duration_seconds A histogram of the request duration.
            # TYPE http_request_duration_seconds histogram
            http_request_duration_seconds_bucket{le="0.05"} 24054
            http_request_duration_seconds_bucket{le="0.1"} 33444
            http_request_duration_seconds_bucket{le="0.2"} 100392
            http_request_duration_seconds_bucket{le="0.5"} 129389
            http_request_duration_seconds_bucket{le="1"} 133988
            http_request_duration_seconds_bucket{le="+Inf"} 144320
            http_request_duration_seconds_sum 53423
            http_request_duration_seconds_count 144320

            # Finally a summary, which has a complex representation, too:
            # HELP telemetry_requests_metrics_latency_microseconds A summary of the response latency.
            # TYPE telemetry_requests_metrics_latency_microseconds summary
            telemetry_requests_metrics_latency_microseconds{quantile="0.01"} 3102
            telemetry_requests_metrics_latency_microseconds{quantile="0.05"} 3272
            telemetry_requests_metrics_latency_microseconds{quantile="0.5"} 4773
            telemetry_requests_metrics_latency_microseconds{quantile="0.9"} 9001
            telemetry_requests_metrics_latency_microseconds{quantile="0.99"} 76656
            telemetry_requests_metrics_latency_microseconds_sum 1.7560473e+07
            telemetry_requests_metrics_latency_microseconds_count 2693

            """;
        var families = ExpositionParser.Parse(example.ReplaceLineEndings("\n"), Text);

        Assert.Equal(
            ["http_requests_total", "msdos_file_access_time_seconds", "metric_without_timestamp_and_labels", "something_weird",
             "http_request_duration_seconds", "telemetry_requests_metrics_latency_microseconds"],
            families.Keys);
        var requests = families["http_requests_total"];
        Assert.Equal(("counter", "The total number of HTTP requests."), (requests.Type, requests.Help));
        Assert.Equal(3, requests.Samples.Single(s => s.Labels["code"] == "400").Value);
        Assert.Equal(1395066363000d, requests.Samples[0].Timestamp);
        var file = families["msdos_file_access_time_seconds"].Samples.Single();
        Assert.Equal("C:\\DIR\\FILE.TXT", file.Labels["path"]);
        Assert.Equal("Cannot find file:\n\"FILE.TXT\"", file.Labels["error"]);
        Assert.Equal(1.458255915e9, file.Value);
        Assert.Equal("untyped", families["metric_without_timestamp_and_labels"].Type);
        Assert.Equal(double.PositiveInfinity, families["something_weird"].Samples.Single().Value);
        Assert.Equal(-3982045d, families["something_weird"].Samples.Single().Timestamp);
        var histogram = families["http_request_duration_seconds"];
        Assert.Equal(8, histogram.Samples.Count);
        Assert.Equal(144320, histogram.Samples.Single(s => s.Name == "http_request_duration_seconds_count").Value);
        Assert.Equal(1.7560473e+07, families["telemetry_requests_metrics_latency_microseconds"].Samples.Single(s => s.Name.EndsWith("_sum", StringComparison.Ordinal)).Value);
    }

    [Fact]
    public void Parse_TheOpenMetricsSpecificationsExamples_ReadTheirValues()
    {
        // The complete exposition of the OpenMetrics 1.0 specification, and its histogram with exemplars.
        const string example = """
            # TYPE acme_http_router_request_seconds summary
            # UNIT acme_http_router_request_seconds seconds
            # HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
            acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
            acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
            acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
            acme_http_router_request_seconds_sum{path="/api/v2",method="POST"} 479.3
            acme_http_router_request_seconds_count{path="/api/v2",method="POST"} 34.0
            acme_http_router_request_seconds_created{path="/api/v2",method="POST"} 1605281325.0
            # TYPE go_goroutines gauge
            # HELP go_goroutines Number of goroutines that currently exist.
            go_goroutines 69
            # TYPE process_cpu_seconds counter
            # UNIT process_cpu_seconds seconds
            # HELP process_cpu_seconds Total user and system CPU time spent in seconds.
            process_cpu_seconds_total 4.20072246e+06
            # TYPE foo histogram
            foo_bucket{le="0.01"} 0
            foo_bucket{le="0.1"} 8 # {} 0.054
            foo_bucket{le="1"} 11 # {trace_id="KOO5S4vxi0o"} 0.67
            foo_bucket{le="10"} 17 # {trace_id="oHg5SJYRHA0"} 9.8 1520879607.789
            foo_bucket{le="+Inf"} 17
            foo_count 17
            foo_sum 324789.3
            # EOF
            """;
        var families = ExpositionParser.Parse(example.ReplaceLineEndings("\n"), Open);

        var router = families["acme_http_router_request_seconds"];
        Assert.Equal(("summary", "Latency though all of ACME's HTTP request router."), (router.Type, router.Help));
        Assert.Equal(34, router.Samples.Single(s => s.Name.EndsWith("_count", StringComparison.Ordinal) && s.Labels["method"] == "POST").Value);
        Assert.Equal(69, families["go_goroutines"].Samples.Single().Value);
        Assert.Equal(("counter", "process_cpu_seconds_total", 4.20072246e+06),
            (families["process_cpu_seconds"].Type, families["process_cpu_seconds"].Samples.Single().Name, families["process_cpu_seconds"].Samples.Single().Value));
        Assert.Equal(17, families["foo"].Samples.Single(s => s.Labels.GetValueOrDefault("le") == "10").Value);
    }

    [Theory]
    [InlineData("a NaN\n", double.NaN)]
    [InlineData("a nan\n", double.NaN)]
    [InlineData("a +Inf\n", double.PositiveInfinity)]
    [InlineData("a -Inf\n", double.NegativeInfinity)]
    [InlineData("a Infinity\n", double.PositiveInfinity)]
    [InlineData("a -0.5e-3\n", -0.0005)]
    [InlineData("a .5\n", 0.5)]
    [InlineData("  a \t 7  \n", 7d)]
    [InlineData("a { x = \"1\" , } 2\n", 2d)]
    [InlineData("a{x=\"1\"}3\n", 3d)]
    public void Parse_ValuesAndSpacingTheTextFormatAllows_AreRead(string text, double value)
    {
        var sample = ExpositionParser.Parse(text, Text)["a"].Samples.Single();
        Assert.Equal(value, sample.Value);
    }

    [Fact]
    public void Parse_CommentsAndEmptyLines_AreIgnoredInTheTextFormat_AndAFamilyMayHaveNoSamples()
    {
        var families = ExpositionParser.Parse("# a comment\n\n#\n# HELP empty Nothing yet.\n# TYPE empty gauge\n# TYPE next counter\nnext 0\n", Text);
        Assert.Empty(families["empty"].Samples);
        Assert.Equal("Nothing yet.", families["empty"].Help);
        Assert.Equal("counter", families["next"].Type);
    }

    [Fact]
    public void Parse_AnEmptyExposition_HasNoFamilies()
    {
        Assert.Empty(ExpositionParser.Parse("", Text));
        Assert.Empty(ExpositionParser.Parse("# EOF\n", Open));
        Assert.Empty(ExpositionParser.Parse("# EOF", Open));
    }
}
