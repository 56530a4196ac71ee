namespace Fabrik.Tests.Support;

/// <summary>
/// A strict parser for the two text expositions a metrics endpoint serves, written from their
/// specifications (prometheus.io's "Exposition formats" for text 0.0.4, and the OpenMetrics 1.0
/// specification with its ABNF) and sharing nothing with the exporter. It refuses what either
/// says an exposition must not contain:
/// <list type="bullet">
/// <item>metric and label names outside their syntax, reserved label names, a label twice in one set,
/// escapes other than <c>\\</c>, <c>\"</c> and <c>\n</c> in 0.0.4;</item>
/// <item>HELP and TYPE (and UNIT) lines after the family's first sample, or twice for one family;
/// a family whose lines are not one uninterrupted group, or a family name used twice;</item>
/// <item>sample names that do not fit the family's type (<c>_bucket</c>/<c>_sum</c>/<c>_count</c>
/// for histograms, <c>_total</c> for OpenMetrics counters, ...), and the same sample name in two
/// families;</item>
/// <item>histogram buckets without 'le', not in increasing order, not cumulative, without a
/// +Inf bucket, or with a _count other than the +Inf bucket's; summary quantiles outside [0, 1];
/// counters that are NaN or negative;</item>
/// <item>values and timestamps that are not numbers of the format (NaN and ±Inf are);</item>
/// <item>a series (name and label set) twice;</item>
/// <item>a text that does not end with a line feed (0.0.4) or with <c># EOF</c> (OpenMetrics),
/// carriage returns, a byte-order mark, and in OpenMetrics empty lines, other comments, extra
/// spaces and interleaved label sets.</item>
/// </list>
/// </summary>
public static class ExpositionParser
{
    private const string EndOfFile = "# EOF";

    /// <summary>The families of <paramref name="text"/> by name, in the order written.</summary>
    /// <exception cref="ExpositionException">The text breaks a rule of <paramref name="format"/>.</exception>
    public static IReadOnlyDictionary<string, PrometheusFamily> Parse(string text, ExpositionFormat format)
    {
        var openMetrics = format == ExpositionFormat.OpenMetrics;
        if (text.StartsWith('\uFEFF'))
        {
            throw new ExpositionException(1, "a byte-order mark");
        }
        if (text.IndexOf('\r', StringComparison.Ordinal) is var carriageReturn and >= 0)
        {
            throw new ExpositionException(text[..carriageReturn].Count(c => c == '\n') + 1, "a carriage return (lines end with a line feed alone)");
        }
        var lines = text.Split('\n');
        if (openMetrics)
        {
            // exposition = metricset HASH SP eof [ LF ]
            var count = lines[^1].Length == 0 ? lines.Length - 1 : lines.Length;
            if (count == 0 || lines[count - 1] != EndOfFile)
            {
                throw new ExpositionException(count, "the exposition does not end with '# EOF'");
            }
            lines = lines[..(count - 1)];
        }
        else if (text.Length > 0 && !text.EndsWith('\n'))
        {
            throw new ExpositionException(lines.Length, "the last line does not end with a line feed");
        }
        else if (text.Length > 0)
        {
            lines = lines[..^1];
        }

        var reader = new Reader(format);
        for (var i = 0; i < lines.Length; i++)
        {
            reader.Read(new ExpositionLine(lines[i], i + 1, format), lines[i]);
        }
        return reader.Finish();
    }

    /// <summary>The state of one parse: the family being read and those already read.</summary>
    private sealed class Reader(ExpositionFormat format)
    {
        private readonly Dictionary<string, ExpositionFamily> _families = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _familyOfSample = new(StringComparer.Ordinal);
        private ExpositionFamily? _current;

        private bool OpenMetrics => format == ExpositionFormat.OpenMetrics;

        public void Read(ExpositionLine line, string text)
        {
            if (OpenMetrics && text.Length == 0)
            {
                throw line.Error("an empty line (OpenMetrics has none)");
            }
            if (OpenMetrics && text == EndOfFile)
            {
                throw line.Error("'# EOF' before the end of the exposition");
            }
            line.SkipBlanks();
            if (line.AtEnd)
            {
                return; // 0.0.4 ignores empty lines
            }
            if (line.Peek('#'))
            {
                Metadata(line);
                return;
            }
            Sample(line);
        }

        public IReadOnlyDictionary<string, PrometheusFamily> Finish()
        {
            _current?.Validate();
            return _families.Values.Select(family => family.ToFamily()).ToDictionary(family => family.Name, StringComparer.Ordinal);
        }

        /// <summary># HELP, # TYPE (and # UNIT in OpenMetrics); any other comment is ignored in
        /// 0.0.4 and refused in OpenMetrics.</summary>
        private void Metadata(ExpositionLine line)
        {
            line.Take('#');
            if (OpenMetrics)
            {
                line.Separator("the metadata keyword");
            }
            else
            {
                line.SkipBlanks();
            }
            var keyword = line.AtEnd ? "" : line.Token("a keyword");
            if (keyword is not ("HELP" or "TYPE") && !(OpenMetrics && keyword == "UNIT"))
            {
                if (OpenMetrics)
                {
                    throw line.Error($"a comment line ('# {keyword}'): OpenMetrics allows only TYPE, UNIT, HELP and the final EOF");
                }
                return; // a 0.0.4 comment
            }
            line.Separator("the metric name");
            var name = line.MetricName();
            var family = FamilyFor(name, line);
            switch (keyword)
            {
                case "TYPE":
                    line.Separator("the type");
                    var type = line.Token("a type");
                    line.End();
                    family.SetType(type, line);
                    break;
                case "UNIT":
                    line.Separator("the unit");
                    var unit = line.AtEnd ? "" : line.MetricName("a unit");
                    line.End();
                    family.SetUnit(unit, line);
                    break;
                default:
                    if (OpenMetrics)
                    {
                        line.Separator("the help text");
                    }
                    else if (!line.AtEnd)
                    {
                        line.Separator("the help text");
                    }
                    family.SetHelp(line.HelpText(), line);
                    break;
            }
        }

        /// <summary>The family that metadata for <paramref name="name"/> belongs to: the current one
        /// while it has no samples yet, otherwise a new one.</summary>
        private ExpositionFamily FamilyFor(string name, ExpositionLine line)
        {
            if (_current is { } current && current.Name == name)
            {
                return current.HasSamples
                    ? throw line.Error($"metadata for {name} after its samples (HELP and TYPE come first)")
                    : current;
            }
            return StartFamily(name, line);
        }

        private ExpositionFamily StartFamily(string name, ExpositionLine line)
        {
            if (_families.TryGetValue(name, out var earlier))
            {
                throw line.Error($"family {name} appears again (it started on line {earlier.Line}; a family's lines are one uninterrupted group)");
            }
            if (OpenMetrics && name.StartsWith('_'))
            {
                throw line.Error($"family name {name} starts with an underscore (reserved)");
            }
            _current?.Validate();
            _current = new ExpositionFamily(name, format, line.Number);
            _families.Add(name, _current);
            return _current;
        }

        /// <summary>name[{labels}] value [timestamp] [# {labels} value [timestamp]] (the exemplar in OpenMetrics only).</summary>
        private void Sample(ExpositionLine line)
        {
            var name = line.MetricName();
            // 0.0.4 separates tokens only where they would otherwise merge: blanks may surround
            // the label set, and one is needed between a bare name and its value.
            var spaced = line.SkipBlanks() > 0;
            var labels = line.Peek('{') ? line.Labels() : null;
            if (OpenMetrics || (labels is null && !spaced))
            {
                line.Separator("the value");
            }
            else
            {
                line.SkipBlanks();
            }
            var value = line.Value("value");
            double? timestamp = null;
            var exemplar = false;
            if (!line.AtEnd && (OpenMetrics || line.SkipBlanks() > 0) && !line.AtEnd)
            {
                if (OpenMetrics)
                {
                    line.Separator("the timestamp or exemplar");
                }
                if (!(OpenMetrics && line.Peek('#')))
                {
                    timestamp = line.Timestamp();
                }
                if (OpenMetrics && !line.AtEnd)
                {
                    if (timestamp is not null)
                    {
                        line.Separator("the exemplar");
                    }
                    Exemplar(line, name, labels);
                    exemplar = true;
                }
            }
            line.End();

            var family = _current;
            var role = family?.RoleOf(name);
            if (family is null || role is null)
            {
                if (family is not null && name == family.Name)
                {
                    throw line.Error($"sample {name} does not fit the {family.ToFamily().Type} family {family.Name} (its samples are named {family.AllowedNames()})");
                }
                family = StartFamily(name, line);
                role = family.RoleOf(name) ?? throw line.Error($"sample {name} fits no family (an OpenMetrics counter needs a TYPE line)");
            }
            if (_familyOfSample.TryGetValue(name, out var owner) && owner != family.Name)
            {
                throw line.Error($"sample name {name} belongs to family {owner} as well as {family.Name}");
            }
            _familyOfSample[name] = family.Name;
            family.Add(new PrometheusSample(name, labels ?? [], value) { Timestamp = timestamp }, role.Value, exemplar, line);
        }

        /// <summary>An OpenMetrics exemplar: <c># {labels} value [timestamp]</c>, its label names and
        /// values at most 128 characters together; a bucket's exemplar lies within the bucket.</summary>
        private static void Exemplar(ExpositionLine line, string name, IReadOnlyDictionary<string, string>? labels)
        {
            if (!line.Take('#'))
            {
                throw line.Error("expected '#' to start an exemplar");
            }
            line.Separator("the exemplar's labels");
            if (!line.Peek('{'))
            {
                throw line.Error("an exemplar needs a label set ('{}' for none)");
            }
            var exemplarLabels = line.Labels();
            if (exemplarLabels.Sum(label => label.Key.Length + label.Value.Length) > 128)
            {
                throw line.Error("an exemplar's labels are longer than 128 characters");
            }
            line.Separator("the exemplar's value");
            var value = line.Value("exemplar value");
            if (!line.AtEnd)
            {
                line.Separator("the exemplar's timestamp");
                line.Timestamp();
            }
            if (name.EndsWith("_bucket", StringComparison.Ordinal) && labels is not null && labels.TryGetValue("le", out var le)
                && ExpositionLine.TryParseNumber(le) is { } bound && value > bound)
            {
                throw line.Error($"exemplar value {value} lies above its bucket's le=\"{le}\"");
            }
        }
    }
}
