using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>
/// Reads a metrics exposition in the tests: always with <see cref="ExpositionParser"/> (strict,
/// written from the specifications, sharing nothing with the exporter), and where Debian's
/// python3-prometheus-client is installed also with the Prometheus Python client's own parser, run
/// as a child process, which must accept the text and read the same families from it.
/// </summary>
public static class PrometheusText
{
    private static readonly string Script = Path.Combine(AppContext.BaseDirectory, "Observability", "parse_prometheus.py");

    /// <summary>Why the Python parser cannot run here, or null when it can.</summary>
    public static readonly Lazy<string?> PythonUnavailable = new(() =>
    {
        try
        {
            var (code, _, error) = Run(["-c", "import prometheus_client"], "");
            return code == 0 ? null : $"python3-prometheus-client is not installed ({error.Trim()})";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"python3 is not installed ({e.Message})";
        }
    });

    /// <summary>The families in <paramref name="exposition"/>, by name; the test fails with the
    /// rule it breaks when either parser refuses it, or when the two read it differently.</summary>
    public static IReadOnlyDictionary<string, PrometheusFamily> Parse(string exposition, ExpositionFormat format = ExpositionFormat.PrometheusText)
    {
        IReadOnlyDictionary<string, PrometheusFamily> families;
        try
        {
            families = ExpositionParser.Parse(exposition, format);
        }
        catch (ExpositionException e)
        {
            throw new Xunit.Sdk.XunitException($"the exposition breaks the {format} format: {e.Message}\n{Excerpt(exposition, e.Line)}");
        }
        if (PythonUnavailable.Value is null)
        {
            Assert.Equal(Normalized(ParseWithPython(exposition, format)), Normalized(families.Values.Select(family => AsPythonReadsIt(family, format))));
        }
        return families;
    }

    private static List<PrometheusFamily> ParseWithPython(string exposition, ExpositionFormat format)
    {
        var (code, output, error) = Run([Script, format == ExpositionFormat.OpenMetrics ? "openmetrics" : "text"], exposition);
        Assert.True(code == 0, $"the Prometheus Python client rejected the exposition: {error}");
        return [.. JsonNode.Parse(output)!.AsArray().Select(family => new PrometheusFamily(
            (string)family!["name"]!,
            (string)family["type"]!,
            (string)family["help"]!,
            [.. family["samples"]!.AsArray().Select(sample => new PrometheusSample(
                (string)sample!["name"]!,
                sample["labels"]!.AsObject().ToDictionary(label => label.Key, label => (string)label.Value!),
                double.Parse((string)sample["value"]!, NumberStyles.Float, CultureInfo.InvariantCulture)))]))];
    }

    /// <summary>How the Python client reports a family: its 0.0.4 parser reads a counter in
    /// OpenMetrics' shape (the family without <c>_total</c>, every sample with it), and both call
    /// an untyped family <c>unknown</c>.</summary>
    private static PrometheusFamily AsPythonReadsIt(PrometheusFamily family, ExpositionFormat format)
    {
        var type = family.Type == "untyped" ? "unknown" : family.Type;
        if (format == ExpositionFormat.OpenMetrics || type != "counter")
        {
            return family with { Type = type };
        }
        var bare = family.Name.EndsWith("_total", StringComparison.Ordinal);
        return family with
        {
            Name = bare ? family.Name[..^"_total".Length] : family.Name,
            Samples = [.. family.Samples.Select(sample => bare ? sample : sample with { Name = sample.Name + "_total" })],
        };
    }

    /// <summary>One comparable line per sample, families sorted by name; timestamps left out.</summary>
    private static List<string> Normalized(IEnumerable<PrometheusFamily> families) =>
        [.. families.OrderBy(family => family.Name, StringComparer.Ordinal).SelectMany(family =>
            new[] { $"{family.Name} {family.Type} {family.Help}" }.Concat(family.Samples.Select(sample =>
                $"  {sample.Name}{{{string.Join(",", sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"))}}} {sample.Value.ToString("R", CultureInfo.InvariantCulture)}")))];

    private static string Excerpt(string exposition, int line)
    {
        var lines = exposition.Split('\n');
        return line < 1 ? "" : string.Join('\n', lines.Skip(Math.Max(0, line - 3)).Take(Math.Min(line, 3)).Select((text, i) => $"{Math.Max(1, line - 2) + i}: {text}"));
    }

    private static (int Code, string Output, string Error) Run(string[] arguments, string input)
    {
        // Debian's interpreter first: that is where apt installs the client.
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var start = new ProcessStartInfo(python) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(input);
        process.StandardInput.Close();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }
}
