using System.Net.Sockets;
using System.Text;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>What Kestrel itself enforces on the HTTP port (body limits, truncated bodies): these
/// need a real socket, so they run against the server on a loopback port.</summary>
[Collection(KestrelServerCollection.Name)]
public sealed class KestrelLimitsTests(KestrelServerFixture fixture)
{
    [Fact]
    public async Task Infer_BodyOverTheSizeLimit_Returns413BeforeReadingIt()
    {
        // Announce 65 MB, over the 64 MB default of --http-max-input-size, and send only the
        // start: the server must answer from the headers alone, without waiting for the body.
        using var socket = new TcpClient();
        await socket.ConnectAsync(fixture.Server.HttpAddress!.Host, fixture.Server.HttpAddress.Port);
        var stream = socket.GetStream();
        var head = "POST /v2/models/simple/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + $"Content-Length: {65 * 1024 * 1024}\r\n\r\n{{\"inputs\": [";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));

        using var reader = new StreamReader(stream, Encoding.UTF8);
        var statusLine = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("HTTP/1.1 413", statusLine, StringComparison.Ordinal);
        var response = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("\"error\"", response, StringComparison.Ordinal);

        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Infer_BodyShorterThanContentLength_NeverAnswers5xxAndKeepsServing()
    {
        // Promise 500 bytes, send 40, then close the sending side. Kestrel treats the early end of
        // the body as the client going away and drops the connection; if anything is answered it
        // must be a 4xx. Either way the server keeps serving and returns every pooled buffer.
        using var socket = new TcpClient();
        await socket.ConnectAsync(fixture.Server.HttpAddress!.Host, fixture.Server.HttpAddress.Port);
        var stream = socket.GetStream();
        var head = "POST /v2/models/simple/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + "Content-Length: 500\r\n\r\n{\"inputs\": [{\"name\": \"INPUT0\", \"datatype\"";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        socket.Client.Shutdown(SocketShutdown.Send);

        string? statusLine;
        try
        {
            using var reader = new StreamReader(stream, Encoding.UTF8);
            statusLine = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (IOException)
        {
            statusLine = null; // connection reset: the server dropped it
        }
        Assert.True(statusLine is null || statusLine.StartsWith("HTTP/1.1 4", StringComparison.Ordinal), $"got '{statusLine}'");

        await AssertStillServesAsync();
        var pool = fixture.Server.TensorPool;
        await Eventually.HoldsAsync(() => pool.Outstanding == 0, TimeSpan.FromSeconds(10));
        Assert.Equal(0, pool.Outstanding);
    }

    private Task AssertStillServesAsync() => StillServing.AssertSimpleAsync(fixture.Client);
}
