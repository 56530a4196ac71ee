using System.Globalization;

namespace Fabrik.Hosting.Commands;

/// <summary>
/// <c>fabrik probe [url]</c>: exits 0 when the URL answers 200 and 1 otherwise. Container images
/// built on a distroless base have no shell and no curl, so their HEALTHCHECK runs this instead.
/// </summary>
internal static class HealthProbe
{
    public const string DefaultUrl = "http://127.0.0.1:8000/v2/health/ready";

    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        if (args.Count > 1 || !Uri.TryCreate(args.Count == 1 ? args[0] : DefaultUrl, UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttp)
        {
            Console.Error.WriteLine($"usage: fabrik probe [http://host:port/path]  (default {DefaultUrl})");
            return 2;
        }
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await client.GetAsync(url);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{url}: {(int)response.StatusCode}"));
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Console.WriteLine($"{url}: {e.Message}");
            return 1;
        }
    }
}
