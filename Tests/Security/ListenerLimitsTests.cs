using System.Net.Sockets;
using System.Text;
using Fabrik.Hosting;
using Xunit;

namespace Fabrik.Tests.Security;

/// <summary>The listeners' limits on a real Kestrel listener: a client trickling its headers is
/// cut off after the headers timeout while other clients are served.</summary>
public sealed class ListenerLimitsTests
{
    [Fact]
    public async Task Slowloris_ClientTricklingHeaders_IsDisconnected_WhileOthersAreServed()
    {
        using var repository = new TemporaryRepository().Add("simple");
        await using var fabrik = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false", "--http-headers-timeout-secs=2"]));

        using var slow = new TcpClient();
        await slow.ConnectAsync(fabrik.HttpAddress!.Host, fabrik.HttpAddress.Port);
        var stream = slow.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /v2/health/ready HTTP/1.1\r\nHost: localhost\r\n"));

        using var others = new HttpClient { BaseAddress = fabrik.HttpAddress };
        var served = 0;
        // One read stays pending: it ends when the server answers 408 or closes the connection.
        var buffer = new byte[256];
        var read = stream.ReadAsync(buffer).AsTask();
        // Bounded only to end a broken test; the assertion is that the server closes the connection.
        var giveUp = DateTime.UtcNow.AddSeconds(60);
        while (!read.IsCompleted && DateTime.UtcNow < giveUp)
        {
            try
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"X-Slow-{served}: a\r\n"));
            }
            catch (IOException)
            {
                break;
            }
            using var ready = await others.GetAsync("/v2/health/ready");
            Assert.True(ready.IsSuccessStatusCode);
            served++;
            await Task.WhenAny(read, Task.Delay(200));
        }
        var closed = false;
        try
        {
            var count = await read.WaitAsync(TimeSpan.FromSeconds(30));
            closed = count == 0 || Encoding.ASCII.GetString(buffer, 0, count).StartsWith("HTTP/1.1 408", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            closed = true;
        }
        Assert.True(closed, "the trickling client was never disconnected");
        Assert.True(served > 0);
    }

    [Theory]
    [InlineData("--http-headers-timeout-secs=0")]
    [InlineData("--http-max-header-size=12")]
    [InlineData("--http2-max-streams=x")]
    public void OutOfRangeLimits_AreRefused(string flag) =>
        Assert.Throws<ArgumentException>(() => ServerOptions.Parse([flag]));

    [Fact]
    public void Limits_DefaultsAndFlags()
    {
        var defaults = ServerOptions.Parse([]);
        Assert.Equal(30, defaults.Limits.HeadersTimeoutSeconds);
        Assert.True(defaults.ClearBuffers);
        var set = ServerOptions.Parse(["--http-max-connections=10", "--http2-max-streams=7", "--grpc-max-send-size=1048576", "--clear-buffers=false"]);
        Assert.Equal(10, set.Limits.MaxConnections);
        Assert.Equal(7, set.Limits.MaxStreamsPerConnection);
        Assert.Equal(1048576, set.Limits.GrpcMaxSendBytes);
        Assert.False(set.ClearBuffers);
    }
}
