namespace Fabrik.Tests.Support;

/// <summary>
/// One metric family while it is read: its metadata, the sample names its type allows, and at
/// its end the checks that need all its samples (histogram buckets, summary quantiles, counter
/// values, duplicate series, interleaving).
/// </summary>
internal sealed class ExpositionFamily(string name, ExpositionFormat format, int line)
{
    /// <summary>What a sample is within its family.</summary>
    public enum Role
    {
        Value,
        Quantile,
        Bucket,
        Sum,
        Count,
        Created,
        Info,
        State,
    }

    private readonly List<(PrometheusSample Sample, Role Role, int Line)> _samples = [];

    public string Name { get; } = name;

    /// <summary>The line the family starts on.</summary>
    public int Line { get; } = line;

    public string? Type { get; private set; }

    public string? Help { get; private set; }

    public string? Unit { get; private set; }

    public bool HasSamples => _samples.Count > 0;

    private bool OpenMetrics => format == ExpositionFormat.OpenMetrics;

    private string TypeOrDefault => Type ?? (OpenMetrics ? "unknown" : "untyped");

    public void SetType(string type, ExpositionLine at)
    {
        string[] types = OpenMetrics
            ? ["counter", "gauge", "histogram", "gaugehistogram", "stateset", "info", "summary", "unknown"]
            : ["counter", "gauge", "histogram", "summary", "untyped"];
        if (!types.Contains(type, StringComparer.Ordinal))
        {
            throw at.Error($"'{type}' is not a metric type (one of {string.Join(", ", types)})");
        }
        Type = Type is null ? type : throw at.Error($"a second TYPE line for {Name}");
    }

    public void SetHelp(string help, ExpositionLine at) =>
        Help = Help is null ? help : throw at.Error($"a second HELP line for {Name}");

    public void SetUnit(string unit, ExpositionLine at)
    {
        if (Unit is not null)
        {
            throw at.Error($"a second UNIT line for {Name}");
        }
        if (unit.Length > 0 && !Name.EndsWith("_" + unit, StringComparison.Ordinal))
        {
            throw at.Error($"unit '{unit}' is not the suffix of the family name {Name}");
        }
        Unit = unit;
    }

    /// <summary>The role a sample named <paramref name="sampleName"/> has in this family, or null
    /// when its type allows no such name.</summary>
    public Role? RoleOf(string sampleName)
    {
        if (!sampleName.StartsWith(Name, StringComparison.Ordinal))
        {
            return null;
        }
        var suffix = sampleName[Name.Length..];
        return (OpenMetrics, TypeOrDefault, suffix) switch
        {
            (false, "counter" or "gauge" or "untyped", "") => Role.Value,
            (true, "counter", "_total") => Role.Value,
            (true, "counter", "_created") => Role.Created,
            (true, "gauge" or "unknown", "") => Role.Value,
            (true, "stateset", "") => Role.State,
            (true, "info", "_info") => Role.Info,
            (_, "summary", "") => Role.Quantile,
            (_, "summary" or "histogram", "_sum") => Role.Sum,
            (_, "summary" or "histogram", "_count") => Role.Count,
            (true, "summary" or "histogram", "_created") => Role.Created,
            (_, "histogram", "_bucket") => Role.Bucket,
            (true, "gaugehistogram", "_bucket") => Role.Bucket,
            (true, "gaugehistogram", "_gsum") => Role.Sum,
            (true, "gaugehistogram", "_gcount") => Role.Count,
            _ => null,
        };
    }

    /// <summary>The sample names this family's type allows, for error messages.</summary>
    public string AllowedNames() =>
        string.Join(", ", new[] { "", "_total", "_created", "_info", "_sum", "_count", "_bucket", "_gsum", "_gcount" }
            .Where(suffix => RoleOf(Name + suffix) is not null).Select(suffix => Name + suffix));

    public void Add(PrometheusSample sample, Role role, bool hasExemplar, ExpositionLine at)
    {
        if (hasExemplar && !(role == Role.Bucket || (TypeOrDefault == "counter" && role == Role.Value)))
        {
            throw at.Error($"an exemplar on {sample.Name} (only a counter's _total and a histogram's buckets may carry one)");
        }
        _samples.Add((sample, role, at.Number));
    }

    public PrometheusFamily ToFamily() => new(Name, TypeOrDefault, Help ?? "", [.. _samples.Select(s => s.Sample)]);

    /// <summary>The checks that need the whole family; called once its last sample is read.</summary>
    public void Validate()
    {
        var series = new Dictionary<string, (double? Timestamp, int Line)>(StringComparer.Ordinal);
        var points = new List<string>();
        foreach (var (sample, role, line) in _samples)
        {
            CheckSample(sample, role, line);
            var key = sample.Name + Key(sample.Labels, []);
            if (series.TryGetValue(key, out var earlier)
                && !(OpenMetrics && earlier.Timestamp is { } before && sample.Timestamp is { } after && after > before))
            {
                throw new ExpositionException(line, $"series {Describe(sample)} appears twice (first on line {earlier.Line})");
            }
            series[key] = (sample.Timestamp, line);
            var point = Key(sample.Labels, ["le", "quantile"]);
            if (OpenMetrics && points.Count > 0 && points[^1] != point && points.Contains(point))
            {
                throw new ExpositionException(line, $"the samples of {Name}{point} are interleaved with another label set's");
            }
            if (points.Count == 0 || points[^1] != point)
            {
                points.Add(point);
            }
        }
        if (TypeOrDefault is "histogram" or "gaugehistogram")
        {
            CheckHistogram();
        }
        if (TypeOrDefault == "summary" && !OpenMetrics)
        {
            CheckQuantileOrder();
        }
    }

    private void CheckSample(PrometheusSample sample, Role role, int line)
    {
        ExpositionException Fail(string reason) => new(line, $"{Describe(sample)}: {reason}");
        var histogram = TypeOrDefault is "histogram" or "gaugehistogram";
        if (histogram && role != Role.Bucket && sample.Labels.ContainsKey("le"))
        {
            throw Fail("only a histogram's _bucket samples carry an 'le' label");
        }
        if (TypeOrDefault == "summary" && role != Role.Quantile && sample.Labels.ContainsKey("quantile"))
        {
            throw Fail("only a summary's quantile samples carry a 'quantile' label");
        }
        switch (role)
        {
            case Role.Bucket:
                if (!sample.Labels.TryGetValue("le", out var le))
                {
                    throw Fail("a bucket without an 'le' label");
                }
                if (double.IsNaN(Bound(le, line, "le")))
                {
                    throw Fail("'le' is NaN");
                }
                NonNegativeCount(sample, Fail);
                break;
            case Role.Count:
                NonNegativeCount(sample, Fail);
                break;
            case Role.Quantile:
                if (!sample.Labels.TryGetValue("quantile", out var quantile))
                {
                    throw Fail("a summary sample named as the family needs a 'quantile' label");
                }
                if (Bound(quantile, line, "quantile") is not (>= 0 and <= 1))
                {
                    throw Fail($"quantile '{quantile}' is not between 0 and 1");
                }
                if (OpenMetrics && sample.Value < 0)
                {
                    throw Fail("a quantile's value is negative");
                }
                break;
            case Role.Sum when OpenMetrics && TypeOrDefault != "gaugehistogram" && (double.IsNaN(sample.Value) || sample.Value < 0):
                throw Fail("a sum is NaN or negative");
            case Role.Value when TypeOrDefault == "counter" && (double.IsNaN(sample.Value) || sample.Value < 0):
                throw Fail("a counter is NaN or negative");
            case Role.Info when sample.Value != 1:
                throw Fail("an info sample's value is not 1");
            case Role.State when sample.Value is not (0 or 1) || !sample.Labels.ContainsKey(Name):
                throw Fail($"a state needs the label '{Name}' and the value 0 or 1");
        }
    }

    private void NonNegativeCount(PrometheusSample sample, Func<string, ExpositionException> fail)
    {
        if (double.IsNaN(sample.Value) || sample.Value < 0)
        {
            throw fail("a count is NaN or negative");
        }
        if (OpenMetrics && sample.Value != Math.Floor(sample.Value))
        {
            throw fail("a count is not an integer");
        }
    }

    /// <summary>Per label set: buckets in increasing order of 'le', cumulative, ending at +Inf,
    /// and a _count equal to the +Inf bucket (required in 0.0.4; in OpenMetrics together with _sum).</summary>
    private void CheckHistogram()
    {
        foreach (var point in _samples.GroupBy(s => Key(s.Sample.Labels, ["le"]), StringComparer.Ordinal))
        {
            var buckets = point.Where(s => s.Role == Role.Bucket).ToList();
            var count = point.Where(s => s.Role == Role.Count).Select(s => (double?)s.Sample.Value).FirstOrDefault();
            var sum = point.Where(s => s.Role == Role.Sum).Select(s => (double?)s.Sample.Value).FirstOrDefault();
            var line = point.Last().Line;
            if (buckets.Count == 0)
            {
                throw new ExpositionException(line, $"histogram {Name}{point.Key} has no buckets (a +Inf bucket is required)");
            }
            var previous = (Bound: (double?)null, Value: 0d);
            foreach (var (bucket, _, bucketLine) in buckets)
            {
                var bound = Bound(bucket.Labels["le"], bucketLine, "le");
                if (bound <= previous.Bound)
                {
                    throw new ExpositionException(bucketLine, $"{Describe(bucket)}: buckets are not in increasing order of 'le'");
                }
                if (bucket.Value < previous.Value)
                {
                    throw new ExpositionException(bucketLine, $"{Describe(bucket)}: buckets are not cumulative ({bucket.Value} after {previous.Value})");
                }
                previous = (bound, bucket.Value);
            }
            if (previous.Bound != double.PositiveInfinity)
            {
                throw new ExpositionException(line, $"histogram {Name}{point.Key} has no le=\"+Inf\" bucket");
            }
            if (count is null && (!OpenMetrics || sum is not null))
            {
                throw new ExpositionException(line, $"histogram {Name}{point.Key} has no {Name}_count");
            }
            if (count is { } total && total != previous.Value)
            {
                throw new ExpositionException(line, $"histogram {Name}{point.Key}: _count {total} is not the +Inf bucket's {previous.Value}");
            }
            if (OpenMetrics && sum is not null && count is null)
            {
                throw new ExpositionException(line, $"histogram {Name}{point.Key} has a _sum without a _count");
            }
            if (OpenMetrics && sum is not null && TypeOrDefault == "histogram" && buckets.Any(b => Bound(b.Sample.Labels["le"], b.Line, "le") < 0))
            {
                throw new ExpositionException(line, $"histogram {Name}{point.Key} has negative buckets and a _sum");
            }
        }
    }

    private void CheckQuantileOrder()
    {
        foreach (var point in _samples.Where(s => s.Role == Role.Quantile).GroupBy(s => Key(s.Sample.Labels, ["quantile"]), StringComparer.Ordinal))
        {
            var previous = -1d;
            foreach (var (sample, _, line) in point)
            {
                var quantile = Bound(sample.Labels["quantile"], line, "quantile");
                if (quantile <= previous)
                {
                    throw new ExpositionException(line, $"{Describe(sample)}: quantiles are not in increasing order");
                }
                previous = quantile;
            }
        }
    }

    private double Bound(string text, int line, string label) =>
        ExpositionLine.TryParseNumber(text) ?? throw new ExpositionException(line, $"'{label}' value '{text}' is not a number");

    /// <summary>The label set without <paramref name="without"/>, in a canonical order.</summary>
    private static string Key(IReadOnlyDictionary<string, string> labels, string[] without) =>
        "{" + string.Join(",", labels.Where(label => !without.Contains(label.Key)).OrderBy(label => label.Key, StringComparer.Ordinal)
            .Select(label => $"{label.Key}=\"{label.Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)}\"")) + "}";

    private static string Describe(PrometheusSample sample) => sample.Name + Key(sample.Labels, []);
}
