using System.Net;
using System.Net.Sockets;
using System.Text;
using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Fabrik.Security;
using Fabrik.Security.Access;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Fabrik.Tests.Security;

/// <summary>
/// The failed-key limit of docs/security.md: 30 failures a minute per client address, then the
/// client is refused (HTTP 429 with Retry-After, gRPC RESOURCE_EXHAUSTED) for a whole minute, its
/// good keys included, while other clients go on. Checked on a clock the test moves, and once on
/// real sockets at the pace of the review that found the limit never triggered.
/// </summary>
public sealed class FailedAuthenticationLimitTests : IDisposable
{
    private const string GoodKey = "good-4b1e77c2a9";
    private const int Limit = 30;

    private readonly TemporaryRepository _repository = new TemporaryRepository().Add("simple");
    private readonly string _keyFile;

    public FailedAuthenticationLimitTests()
    {
        _keyFile = Path.Combine(_repository.Path, "..", $"keys-{Guid.NewGuid():N}.json");
        File.WriteAllText(_keyFile, AuthTests.KeyFile(("good", GoodKey, ["metadata"])));
    }

    public void Dispose()
    {
        File.Delete(_keyFile);
        _repository.Dispose();
    }

    private AccessControl Access(TimeProvider time) =>
        new(new SecuritySettings { AuthKeysPath = _keyFile, AuthFailuresPerMinute = Limit }, NullLoggerFactory.Instance, new AuditLog(null), time);

    private static AccessOutcome Try(AccessControl access, string key, string client) =>
        access.Check(ApiGroup.Metadata, null, "Bearer " + key, null, IPAddress.Parse(client), "GET", "/v2").Outcome;

    [Fact]
    public void ThirtyFailures_BlockTheClientForAWholeMinute_ThenItMayTryAgain()
    {
        var time = new ManualTimeProvider();
        var access = Access(time);
        for (var i = 0; i < Limit; i++)
        {
            Assert.Equal(AccessOutcome.Unauthenticated, Try(access, $"guess-{i}", "10.0.0.1"));
            time.Advance(TimeSpan.FromSeconds(1));
        }
        // The 31st attempt within the minute, and a good key after it, wait.
        Assert.Equal(AccessOutcome.RateLimited, Try(access, "guess-31", "10.0.0.1"));
        Assert.Equal(AccessOutcome.RateLimited, Try(access, GoodKey, "10.0.0.1"));

        // Another client is unaffected, with a good key or a bad one.
        Assert.Equal(AccessOutcome.Allowed, Try(access, GoodKey, "10.0.0.2"));
        Assert.Equal(AccessOutcome.Unauthenticated, Try(access, "guess", "10.0.0.2"));

        // Blocked for the whole minute from the 30th failure (made at 29 s, so until 89 s)...
        for (var second = 30; second < 88; second++)
        {
            Assert.Equal(AccessOutcome.RateLimited, Try(access, GoodKey, "10.0.0.1"));
            time.Advance(TimeSpan.FromSeconds(1));
        }
        time.Advance(TimeSpan.FromSeconds(0.9));
        Assert.Equal(AccessOutcome.RateLimited, Try(access, GoodKey, "10.0.0.1"));

        // ...and then it may try again, with a fresh count.
        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(AccessOutcome.Allowed, Try(access, GoodKey, "10.0.0.1"));
        for (var i = 0; i < Limit; i++)
        {
            Assert.Equal(AccessOutcome.Unauthenticated, Try(access, $"again-{i}", "10.0.0.1"));
        }
        Assert.Equal(AccessOutcome.RateLimited, Try(access, GoodKey, "10.0.0.1"));
    }

    [Fact]
    public void FailuresSpreadOverMoreThanAMinute_DoNotBlock()
    {
        var time = new ManualTimeProvider();
        var access = Access(time);
        for (var i = 0; i < Limit - 1; i++)
        {
            Assert.Equal(AccessOutcome.Unauthenticated, Try(access, $"guess-{i}", "10.0.0.1"));
        }
        time.Advance(TimeSpan.FromSeconds(61));
        for (var i = 0; i < Limit - 1; i++)
        {
            Assert.Equal(AccessOutcome.Unauthenticated, Try(access, $"guess-{i}", "10.0.0.1"));
        }
        Assert.Equal(AccessOutcome.Allowed, Try(access, GoodKey, "10.0.0.1"));
    }

    [Fact]
    public void AFloodOfDistinctClients_TakesBoundedMemory_AndABlockedClientStaysBlocked()
    {
        var time = new ManualTimeProvider();
        var failures = new FailedAuthentications(limit: 3, time, capacity: 100);
        for (var i = 0; i < 3; i++)
        {
            failures.RecordFailure("192.0.2.1");
        }
        Assert.NotNull(failures.BlockedFor("192.0.2.1"));

        for (var i = 0; i < 20_000; i++)
        {
            failures.RecordFailure($"2001:db8::{i:x}");
            Assert.InRange(failures.TrackedClients, 1, 100);
        }
        Assert.Equal(TimeSpan.FromMinutes(1), failures.BlockedFor("192.0.2.1"));

        // The flood's clients are still counted, each on its own.
        failures.RecordFailure("2001:db8::4e1f");
        Assert.Null(failures.BlockedFor("2001:db8::4e1f"));
        failures.RecordFailure("2001:db8::4e1f");
        Assert.NotNull(failures.BlockedFor("2001:db8::4e1f"));

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Null(failures.BlockedFor("192.0.2.1"));
    }

    [Fact]
    public void AFloodOfBlockedClients_StillTakesBoundedMemory()
    {
        var time = new ManualTimeProvider();
        var failures = new FailedAuthentications(limit: 1, time, capacity: 50);
        for (var i = 0; i < 5_000; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
            Assert.True(failures.RecordFailure($"2001:db8::{i:x}"));
            Assert.InRange(failures.TrackedClients, 1, 50);
        }
        // The newest are tracked; the ones displaced first were those whose block ends first.
        Assert.NotNull(failures.BlockedFor("2001:db8::1387"));
        Assert.Null(failures.BlockedFor("2001:db8::0"));
    }

    [Fact]
    public async Task OverHttpAndGrpc_TheLimitHoldsForTheMinute_ThenTheClientMayTryAgain()
    {
        var time = new ManualTimeProvider();
        var options = ServerOptions.Parse(["--model-repository", _repository.Path, "--auth-keys", _keyFile]);
        await using var host = await InMemoryFabrik.StartAsync(options with
        {
            Security = options.Security with { AuthFailuresPerMinute = Limit, AuthReloadCheckInterval = TimeSpan.Zero },
        }, time);
        using var http = host.CreateHttpClient();
        using var channel = host.CreateGrpcChannel();
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);

        for (var i = 0; i < Limit; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(http, $"guess-{i}")).StatusCode);
        }
        for (var second = 0; second < 60; second += 15)
        {
            using var refused = await GetAsync(http, GoodKey);
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            // The time left of the block, not a fixed minute: 60, 45, 30, 15 seconds.
            Assert.Equal(TimeSpan.FromSeconds(60 - second), refused.Headers.RetryAfter?.Delta);
            var error = await Assert.ThrowsAsync<RpcException>(() => grpc.ServerMetadataAsync(new ServerMetadataRequest(), Bearer(GoodKey)).ResponseAsync);
            Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
            time.Advance(TimeSpan.FromSeconds(15));
        }

        using var allowed = await GetAsync(http, GoodKey);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        await grpc.ServerMetadataAsync(new ServerMetadataRequest(), Bearer(GoodKey)).ResponseAsync;
    }

    [Fact]
    public async Task RealSockets_150BadKeysOnOneKeepAliveConnectionOverTwoSeconds_Get429_WhileAnotherAddressIsServed()
    {
        var options = ServerOptions.Parse(["--model-repository", _repository.Path, "--auth-keys", _keyFile,
            "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false", "--allow-metrics=false"]);
        await using var server = await FabrikServer.StartAsync(options);
        var address = server.HttpAddress!;

        using var guesser = new TcpClient(AddressFamily.InterNetwork);
        await guesser.ConnectAsync(address.Host, address.Port);
        var stream = guesser.GetStream();
        var statuses = new List<int>();
        // The review's pace: 150 requests spread over about two seconds, past the ticks of a
        // replenishing limiter, all on the one connection.
        using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(13));
        for (var i = 0; i < 150; i++)
        {
            statuses.Add((await SendAsync(stream, $"guess-{i:D4}")).Status);
            await pace.WaitForNextTickAsync();
        }
        Assert.Equal(Enumerable.Repeat(401, Limit), statuses.Take(Limit));
        Assert.Equal(Enumerable.Repeat(429, 150 - Limit), statuses.Skip(Limit));
        var good = await SendAsync(stream, GoodKey);
        Assert.Equal(429, good.Status);
        Assert.True(int.Parse(good.Headers["Retry-After"], System.Globalization.CultureInfo.InvariantCulture) > 0);

        // Another address on the same machine (the whole of 127/8 is loopback) is unaffected.
        using var other = new TcpClient(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        await other.ConnectAsync(address.Host, address.Port);
        Assert.Equal(200, (await SendAsync(other.GetStream(), GoodKey)).Status);
        Assert.Equal(401, (await SendAsync(other.GetStream(), "guess")).Status);
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient http, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v2") { Headers = { Authorization = new("Bearer", key) } };
        return await http.SendAsync(request);
    }

    private static Metadata Bearer(string key) => new() { { "authorization", "Bearer " + key } };

    /// <summary>One keep-alive request written by hand, and its response.</summary>
    private static async Task<RawHttp.Response> SendAsync(Stream stream, string key)
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /v2 HTTP/1.1\r\nHost: fabrik\r\nAuthorization: Bearer {key}\r\n\r\n"));
        return await RawHttp.ReadResponseAsync(stream);
    }
}
