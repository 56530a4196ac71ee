using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit;

namespace Fabrik.Tests.Hosting;

/// <summary>--log-format, --log-access and --log-file on the real executable.</summary>
public sealed partial class LoggingTests
{
    [Fact]
    public async Task Log_JsonFormatWithAccessLog_OneJsonObjectPerLineAndNoTensorContents()
    {
        await using var fabrik = await FabrikProcess.StartAsync("--model-repository", RepositoryLayout.Models, "--http-port", "0",
            "--metrics-port", "0", "--allow-grpc=false", "--log-format=json", "--log-access=true");
        using var client = new HttpClient { BaseAddress = fabrik.Address };
        const int marker = 918273645; // an input value that must never reach the log
        var body = $$"""{"inputs":[{"name":"INPUT0","datatype":"INT32","shape":[1,16],"data":[{{marker}},1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]},{"name":"INPUT1","datatype":"INT32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/simple/infer") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Request-ID", "req-42");
        using (var response = await client.SendAsync(request))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var access = await WaitForLineAsync(() => fabrik.Log, line => line.Contains("\"Fabrik.Access\"", StringComparison.Ordinal));
        var state = JsonNode.Parse(access)!["State"]!;
        Assert.Equal("req-42", (string)state["RequestId"]!);
        Assert.Equal("POST", (string)state["Method"]!);
        Assert.Equal("/v2/models/simple/infer", (string)state["Route"]!);
        Assert.Equal("simple", (string)state["Model"]!);
        Assert.Equal("200", state["Status"]!.ToString());
        Assert.Equal(Encoding.UTF8.GetByteCount(body).ToString(System.Globalization.CultureInfo.InvariantCulture), state["BytesIn"]!.ToString());
        if (Fabrik.Native.GpuInventory.Query().Devices.Count == 0)
        {
            // No GPU here: the GPU metrics are absent, and the log says why, once.
            Assert.Single(fabrik.Log, line => line.Contains("GPU metrics are not reported", StringComparison.Ordinal));
        }
        foreach (var line in fabrik.Log.Where(line => line.Length > 0).ToList())
        {
            Assert.True(JsonNode.Parse(line) is JsonObject, $"not a JSON object: {line}");
            Assert.DoesNotContain(marker.ToString(System.Globalization.CultureInfo.InvariantCulture), line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Log_FileWithIso8601Format_WritesThereWithUtcTimestamps()
    {
        var file = Path.Combine(Path.GetTempPath(), $"fabrik-{Guid.NewGuid():N}.log");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "fabrik.dll"), "--model-repository", RepositoryLayout.Models,
                     "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false", "--log-file", file, "--log-format", "ISO8601" })
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        try
        {
            string[] Lines() => File.Exists(file) ? ReadShared(file) : [];
            await WaitForLineAsync(Lines, line => line.Contains("Fabrik is serving", StringComparison.Ordinal));
            Assert.All(Lines().Where(line => line.Length > 0), line => Assert.Matches(Iso8601Line(), line));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            File.Delete(file);
        }
        Assert.DoesNotContain("Fabrik is serving", await stdout, StringComparison.Ordinal);
    }

    private static string[] ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n');
    }

    /// <summary>Waits (up to a minute, for slow start-ups) for a line; fails with what was logged.</summary>
    private static async Task<string> WaitForLineAsync(Func<IEnumerable<string>> lines, Func<string, bool> match)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (lines().FirstOrDefault(match) is { } line)
            {
                return line;
            }
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException("the expected log line never came. The log:\n" + string.Join("\n", lines()));
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")]
    private static partial Regex Iso8601Line();
}
