using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Tests.Support;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>
/// Clients that go away in the middle of a large upload, the way a load generator's clients do
/// when it stops: headers and part of a binary-extension body, then a close or a reset; requests
/// cancelled mid-body; an error answered before the body has been read. Over real sockets, each
/// connection must end cleanly: Kestrel logs no broken connection ("Connection processing ended
/// abnormally", a read left pending on the body), and the server keeps serving.
/// </summary>
public sealed class AbortedUploadTests : IAsyncLifetime
{
    private const int BodyLength = 600 * 1024;

    private readonly CapturedLog _log = new();
    private FabrikServer _server = null!;
    private HttpClient _client = null!;
    private EndedConnections _ended = null!;

    public async Task InitializeAsync()
    {
        var options = ServerOptions.Parse(["--model-repository", RepositoryLayout.Models, "--http-port", "0", "--allow-grpc", "false", "--metrics-port", "0"]);
        _server = await FabrikServer.StartAsync(options, configureHost: web => web.ConfigureLogging(logging => logging.AddProvider(_log)));
        _ended = new EndedConnections(_server.HttpAddress!.Port);
        _client = new HttpClient { BaseAddress = _server.HttpAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        _ended.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Infer_ClientsClosingOrResettingMidBody_EndEveryConnectionCleanly()
    {
        // Each client has the server reading its body (Kestrel sends 100 Continue on the
        // application's first read), sends part of it, then closes or resets the connection.
        // Half first complete a request on the same connection, as keep-alive clients do.
        const int clients = 32;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(i => AbortMidBodyAsync(keepAliveFirst: i % 2 == 0, reset: i % 4 >= 2)));

        await _ended.WaitForAsync(clients);
        AssertNoBrokenConnections();
        await StillServing.AssertSimpleAsync(_client);
        Assert.Equal(0, _server.TensorPool.Outstanding);
    }

    [Fact]
    public async Task Infer_RequestsCancelledMidBody_EndEveryConnectionCleanly()
    {
        // 16 HttpClient uploads stop half-way and wait; once all are under way they are cancelled
        // together, which drops their connections as a load generator does when it stops.
        const int clients = 16;
        using var cancel = new CancellationTokenSource();
        using var halfway = new CountdownEvent(clients);
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = clients };
        using var client = new HttpClient(handler) { BaseAddress = _server.HttpAddress };
        var uploads = Enumerable.Range(0, clients).Select(async _ =>
        {
            using var content = new StalledContent(BinaryBody(), halfway);
            content.Headers.ContentType = new("application/octet-stream");
            content.Headers.Add("Inference-Header-Content-Length", HeaderLength.ToString(CultureInfo.InvariantCulture));
            try
            {
                using var response = await client.PostAsync("/v2/models/simple/infer", content, cancel.Token);
                return response.StatusCode;
            }
            catch (OperationCanceledException)
            {
                return (HttpStatusCode?)null;
            }
        }).ToArray();
        await Task.Run(() => halfway.Wait(TimeSpan.FromMinutes(1)));
        await cancel.CancelAsync();
        var answers = await Task.WhenAll(uploads);

        Assert.All(answers, Assert.Null);
        await _ended.WaitForAsync(clients);
        AssertNoBrokenConnections();
        await StillServing.AssertSimpleAsync(_client);
    }

    [Fact]
    public async Task Infer_BodyOverTheSizeLimitThenReset_Answers413AndEndsTheConnectionCleanly()
    {
        // 65 MB announced (over the 64 MB default), part of it sent: the 413 comes from the
        // headers; the client then resets while the server would drain the rest.
        const int clients = 8;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            using var socket = new TcpClient();
            await socket.ConnectAsync(_server.HttpAddress!.Host, _server.HttpAddress.Port);
            var stream = socket.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                "POST /v2/models/simple/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n"
                + $"Inference-Header-Content-Length: {HeaderLength}\r\nContent-Length: {65 * 1024 * 1024}\r\n\r\n"));
            await stream.WriteAsync(BinaryBody().AsMemory(0, 256 * 1024));
            Assert.Equal(413, (await RawHttp.ReadResponseAsync(stream)).Status);
            socket.Client.LingerState = new LingerOption(true, 0);
        }));

        await _ended.WaitForAsync(clients);
        AssertNoBrokenConnections();
        await StillServing.AssertSimpleAsync(_client);
    }

    [Fact]
    public async Task Infer_ErrorAnsweredBeforeTheBodyIsRead_ConnectionServesTheNextRequest()
    {
        // Three refusals: two before the body is read (a malformed binary-extension header, an
        // unknown model) and one after (a JSON header longer than the body). Each client sends
        // its whole body, then a valid request on the same connection.
        string[] refusals = ["malformed-header", "unknown-model", "short-body"];
        foreach (var refusal in refusals)
        {
            using var socket = new TcpClient();
            await socket.ConnectAsync(_server.HttpAddress!.Host, _server.HttpAddress.Port);
            var stream = socket.GetStream();
            var body = BinaryBody();
            var (path, headerValue) = refusal switch
            {
                "malformed-header" => ("/v2/models/simple/infer", "abc"),
                "unknown-model" => ("/v2/models/no_such_model/infer", HeaderLength.ToString(CultureInfo.InvariantCulture)),
                _ => ("/v2/models/simple/infer", (BodyLength + 1).ToString(CultureInfo.InvariantCulture)),
            };
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                $"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n"
                + $"Inference-Header-Content-Length: {headerValue}\r\nContent-Length: {body.Length}\r\n\r\n"));
            await stream.WriteAsync(body);
            var refused = await RawHttp.ReadResponseAsync(stream);
            Assert.True(refused.Status is 400 or 404, $"{refusal}: got {refused.Status} {refused.Body}");
            Assert.Contains("\"error\"", refused.Body, StringComparison.Ordinal);

            var sample = Samples.Sample("simple", 0);
            var json = Encoding.UTF8.GetBytes(new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString());
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                $"POST /v2/models/simple/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {json.Length}\r\n\r\n"));
            await stream.WriteAsync(json);
            var served = await RawHttp.ReadResponseAsync(stream);
            Assert.Equal(200, served.Status);
            TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(served.Body)!["outputs"]!.AsArray(), 0);
        }
        AssertNoBrokenConnections();
    }

    private async Task AbortMidBodyAsync(bool keepAliveFirst, bool reset)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(_server.HttpAddress!.Host, _server.HttpAddress.Port);
        var stream = socket.GetStream();
        if (keepAliveFirst)
        {
            await stream.WriteAsync("GET /v2/health/ready HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray());
            Assert.Equal(200, (await RawHttp.ReadResponseAsync(stream)).Status);
        }
        var body = BinaryBody();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            "POST /v2/models/simple/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n"
            + $"Inference-Header-Content-Length: {HeaderLength}\r\nContent-Length: {body.Length}\r\nExpect: 100-continue\r\n\r\n"));
        Assert.Equal(100, (await RawHttp.ReadResponseAsync(stream)).Status);
        // Several writes, so that the server reads the body in several pieces before the end.
        for (var offset = 0; offset < body.Length / 2; offset += 32 * 1024)
        {
            await stream.WriteAsync(body.AsMemory(offset, 32 * 1024));
            await stream.FlushAsync();
            await Task.Yield();
        }
        if (reset)
        {
            socket.Client.LingerState = new LingerOption(true, 0); // close sends RST
        }
        else
        {
            socket.Client.Shutdown(SocketShutdown.Send);
        }
    }

    private void AssertNoBrokenConnections()
    {
        var broken = _log.Entries.Where(entry => entry.Category.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal)
            || entry.Exception is InvalidOperationException).ToList();
        Assert.True(broken.Count == 0, "the server logged:\n" + string.Join("\n", broken));
    }

    private static int HeaderLength => Header().Length;

    private static byte[] Header() => Encoding.UTF8.GetBytes(
        """{"inputs":[{"name":"INPUT0","datatype":"INT32","shape":[1,16],"parameters":{"binary_data_size":64}},{"name":"INPUT1","datatype":"INT32","shape":[1,16],"parameters":{"binary_data_size":64}}]}""");

    /// <summary>A binary-extension body of <see cref="BodyLength"/> bytes for <c>simple</c>. Its
    /// binary part is longer than the header accounts for, so if one were ever read whole it would
    /// be refused; these tests are about what happens before that.</summary>
    private static byte[] BinaryBody()
    {
        var body = new byte[BodyLength];
        Header().CopyTo(body, 0);
        return body;
    }

    /// <summary>Sends the first half of its bytes, signals, then waits to be cancelled.</summary>
    private sealed class StalledContent(byte[] body, CountdownEvent halfway) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(body.AsMemory(0, body.Length / 2), cancellationToken);
            await stream.FlushAsync(cancellationToken);
            halfway.Signal();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = body.Length;
            return true;
        }
    }
}
