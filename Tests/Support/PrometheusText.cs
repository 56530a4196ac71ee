using System.Diagnostics;
using System.Text.Json.Nodes;
using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>One sample of a parsed exposition.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>One metric family of a parsed exposition.</summary>
public sealed record PrometheusFamily(string Name, string Type, string Help, IReadOnlyList<PrometheusSample> Samples);

/// <summary>
/// Parses Prometheus text exposition with the Prometheus Python client's own parser (Debian's
/// python3-prometheus-client), run as a child process: the server's output is read by code that
/// shares nothing with the exporter.
/// </summary>
public static class PrometheusText
{
    private static readonly string Script = Path.Combine(AppContext.BaseDirectory, "Observability", "parse_prometheus.py");

    /// <summary>Why the parser cannot run here, or null when it can.</summary>
    public static readonly Lazy<string?> Unavailable = new(() =>
    {
        try
        {
            var (code, _, error) = Run("import prometheus_client", ["-c"], "");
            return code == 0 ? null : $"python3-prometheus-client is not installed ({error.Trim()}); apt-get install python3-prometheus-client";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"python3 is not installed ({e.Message})";
        }
    });

    /// <summary>The families in <paramref name="exposition"/>, by name.</summary>
    public static IReadOnlyDictionary<string, PrometheusFamily> Parse(string exposition)
    {
        var (code, output, error) = Run(Script, [], exposition);
        Assert.True(code == 0, $"the Prometheus parser rejected the exposition: {error}");
        return JsonNode.Parse(output)!.AsArray().Select(family => new PrometheusFamily(
            (string)family!["name"]!,
            (string)family["type"]!,
            (string)family["help"]!,
            family["samples"]!.AsArray().Select(sample => new PrometheusSample(
                (string)sample!["name"]!,
                sample["labels"]!.AsObject().ToDictionary(label => label.Key, label => (string)label.Value!),
                (double)sample["value"]!)).ToList())).ToDictionary(family => family.Name);
    }

    private static (int Code, string Output, string Error) Run(string scriptOrCode, string[] flags, string input)
    {
        // Debian's interpreter first: that is where apt installs the client.
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var start = new ProcessStartInfo(python) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var flag in flags)
        {
            start.ArgumentList.Add(flag);
        }
        start.ArgumentList.Add(scriptOrCode);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(input);
        process.StandardInput.Close();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }
}

/// <summary>A test that parses metrics with the Prometheus Python client; skipped, with the
/// reason, where python3 or the client is missing.</summary>
public sealed class PrometheusFactAttribute : FactAttribute
{
    public PrometheusFactAttribute()
    {
        if (PrometheusText.Unavailable.Value is { } reason)
        {
            Skip = $"Metrics test skipped: {reason}";
        }
    }
}
