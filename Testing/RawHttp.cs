using System.Globalization;
using System.Text;

namespace Fabrik.Testing;

/// <summary>
/// Reads one HTTP/1.1 response off a raw connection (status line, headers, then a body framed by
/// Content-Length or chunked), for tests that write requests by hand to control what goes on the
/// wire and when. Written from RFC 9112, independently of the server.
/// </summary>
internal static class RawHttp
{
    public sealed record Response(int Status, IReadOnlyDictionary<string, string> Headers, string Body);

    /// <summary>Reads the next response; an interim one (100 Continue) comes back with no body.</summary>
    public static async Task<Response> ReadResponseAsync(Stream stream)
    {
        var statusLine = await ReadLineAsync(stream);
        var parts = statusLine.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"not a status line: '{statusLine}'");
        }
        var status = int.Parse(parts[1], CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var line = await ReadLineAsync(stream); line.Length > 0; line = await ReadLineAsync(stream))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        if (status < 200 || status is 204 or 304)
        {
            return new Response(status, headers, "");
        }
        var body = new MemoryStream();
        if (headers.TryGetValue("Content-Length", out var length))
        {
            await CopyExactlyAsync(stream, body, int.Parse(length, CultureInfo.InvariantCulture));
        }
        else if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            while (true)
            {
                var size = int.Parse((await ReadLineAsync(stream)).Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                await CopyExactlyAsync(stream, body, size);
                await ReadLineAsync(stream); // the CRLF after the chunk, or the end of the trailers
                if (size == 0)
                {
                    break;
                }
            }
        }
        return new Response(status, headers, Encoding.UTF8.GetString(body.ToArray()));
    }

    private static async Task CopyExactlyAsync(Stream from, Stream to, int count)
    {
        var buffer = new byte[count];
        await from.ReadExactlyAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        await to.WriteAsync(buffer);
    }

    private static async Task<string> ReadLineAsync(Stream stream)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (true)
        {
            if (await stream.ReadAsync(one).AsTask().WaitAsync(TimeSpan.FromSeconds(30)) == 0)
            {
                throw new EndOfStreamException($"the connection closed in the middle of a response, after '{line}'");
            }
            if (one[0] == '\n')
            {
                return line.ToString().TrimEnd('\r');
            }
            line.Append((char)one[0]);
        }
    }
}
