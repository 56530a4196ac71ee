using System.Net;
using Fabrik.Client;
using Fabrik.Client.Protos;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>The retry policy against a stand-in server on a manual clock: Retry-After and gRPC
/// pushback honoured, UNAVAILABLE retried, the bounds kept, and nothing retried without a policy.
/// No test sleeps: the clock records each wait the client asks for and passes it at once.</summary>
public sealed class FabrikClientRetryTests
{
    private const string Answer = """{"model_name":"m","model_version":"1","outputs":[{"name":"Y","datatype":"INT32","shape":[2],"data":[4,5]}]}""";

    private static readonly InferRequest Request = new InferRequest("m").WithInput(InferInput.Create("X", new[] { 1, 2 }, 2));

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    [InlineData(HttpStatusCode.TooManyRequests)]
    public async Task Infer_BusyWithRetryAfter_WaitsThatLongThenSucceeds(HttpStatusCode busy)
    {
        var clock = new RecordingClock();
        var handler = new ScriptedHandler((_, index) => index == 0 ? Busy(busy, retryAfterSeconds: 2) : ScriptedHandler.Json(Answer), clock);
        using var client = Client(handler, clock, new RetryPolicy { InitialBackoff = TimeSpan.FromMilliseconds(10), Jitter = 0.5 });

        using (var result = await clock.RunAsync(client.InferAsync(Request)))
        {
            Assert.Equal([4, 5], result.GetOutput<int>("Y").ToArray());
        }
        Assert.Equal(2, handler.Count);
        // Retry-After: 2 s, plus at most half the 10 ms initial backoff of jitter.
        var wait = Assert.Single(clock.Waits);
        Assert.InRange(wait, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2.005));
        var times = handler.Requests.Select(request => request.At).ToArray();
        Assert.InRange(times[1] - times[0], wait - TimeSpan.FromMilliseconds(1), wait + TimeSpan.FromMilliseconds(1));
    }

    [Fact]
    public async Task Infer_Unavailable_BacksOffExponentiallyUpToMaxAttempts()
    {
        var clock = new RecordingClock();
        var handler = new ScriptedHandler((_, _) => Busy(HttpStatusCode.ServiceUnavailable, retryAfterSeconds: null), clock);
        using var client = Client(handler, clock, new RetryPolicy { MaxAttempts = 4, InitialBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(3), Jitter = 0.5 });

        var error = await Assert.ThrowsAsync<FabrikException>(() => clock.RunAsync(client.InferAsync(Request)));
        Assert.Equal(FabrikErrorKind.Unavailable, error.Kind);
        Assert.Equal(503, error.HttpStatus);
        Assert.Equal(4, handler.Count);
        // 1 s, 2 s, then 4 s capped at 3 s, each less up to half of it for jitter.
        var waits = clock.Waits;
        Assert.Equal(3, waits.Count);
        Assert.InRange(waits[0].TotalSeconds, 0.5, 1.0);
        Assert.InRange(waits[1].TotalSeconds, 1.0, 2.0);
        Assert.InRange(waits[2].TotalSeconds, 1.5, 3.0);
    }

    [Fact]
    public async Task Infer_RetryAfterPastTheElapsedBound_FailsAtOnceWithTheServersWait()
    {
        var clock = new RecordingClock();
        var handler = new ScriptedHandler((_, _) => Busy(HttpStatusCode.TooManyRequests, retryAfterSeconds: 60), clock);
        using var client = Client(handler, clock, new RetryPolicy { MaxElapsed = TimeSpan.FromSeconds(10) });
        var error = await Assert.ThrowsAsync<FabrikException>(() => clock.RunAsync(client.InferAsync(Request)));
        Assert.Equal(FabrikErrorKind.ResourceExhausted, error.Kind);
        Assert.Equal(TimeSpan.FromSeconds(60), error.RetryAfter);
        Assert.Equal(1, handler.Count);
        Assert.Empty(clock.Waits);
    }

    [Fact]
    public async Task Infer_WithoutAPolicy_IsNotRetried_AndANotFoundNeverIs()
    {
        var clock = new RecordingClock();
        var busy = new ScriptedHandler((_, _) => Busy(HttpStatusCode.ServiceUnavailable, retryAfterSeconds: 1), clock);
        using (var client = Client(busy, clock, retry: null))
        {
            var error = await Assert.ThrowsAsync<FabrikException>(() => clock.RunAsync(client.InferAsync(Request)));
            Assert.True(error.IsTransient);
            Assert.Equal(TimeSpan.FromSeconds(1), error.RetryAfter);
            Assert.Equal(1, busy.Count);
        }
        var missing = new ScriptedHandler((_, _) => ScriptedHandler.Json("""{"error":"Request for unknown model: 'm' is not found"}""", HttpStatusCode.NotFound), clock);
        using (var client = Client(missing, clock, new RetryPolicy()))
        {
            var error = await Assert.ThrowsAsync<FabrikException>(() => clock.RunAsync(client.InferAsync(Request)));
            Assert.Equal(FabrikErrorKind.NotFound, error.Kind);
            Assert.Equal(1, missing.Count);
        }
    }

    [Fact]
    public async Task Grpc_UnavailableThenPushback_AreRetriedAfterTheServersWait()
    {
        var clock = new RecordingClock();
        var handler = new ScriptedHandler((_, index) => index switch
        {
            0 => ScriptedHandler.Grpc(null, Grpc.Core.StatusCode.Unavailable, "draining"),
            1 => ScriptedHandler.Grpc(null, Grpc.Core.StatusCode.ResourceExhausted, "queue full", ("grpc-retry-pushback-ms", "1500")),
            _ => ScriptedHandler.Grpc(new ServerLiveResponse { Live = true }),
        }, clock);
        using var client = Client(handler, clock, new RetryPolicy { InitialBackoff = TimeSpan.FromMilliseconds(100), Jitter = 0 }, FabrikTransport.Grpc);

        Assert.True(await clock.RunAsync(client.IsLiveAsync()));
        Assert.Equal(3, handler.Count);
        // The first is the backoff (no jitter), the second the server's pushback.
        Assert.Equal([TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(1500)], clock.Waits);
    }

    [Theory]
    [InlineData(FabrikTransport.Http)]
    [InlineData(FabrikTransport.Grpc)]
    public async Task Call_WithoutAnAnswerInTime_ThrowsDeadlineExceeded(FabrikTransport transport)
    {
        var handler = new HangingHandler();
        using var client = new FabrikClient(new FabrikClientOptions
        {
            Transport = transport,
            HttpAddress = new Uri("http://stand-in/"),
            GrpcAddress = new Uri("http://stand-in/"),
            HttpHandler = handler,
            // Long enough for a cold gRPC stack to send the call first (50 ms was not, when this
            // test ran alone), so the deadline is seen both at the handler and by the caller.
            Timeout = TimeSpan.FromSeconds(2),
        });
        var error = await Assert.ThrowsAsync<FabrikException>(() => client.GetServerMetadataAsync());
        Assert.Equal(FabrikErrorKind.DeadlineExceeded, error.Kind);
        if (transport == FabrikTransport.Grpc)
        {
            // The deadline went to the server too, as grpc-timeout.
            Assert.True(handler.SawGrpcTimeout);
        }
    }

    private static HttpResponseMessage Busy(HttpStatusCode status, int? retryAfterSeconds)
    {
        var response = ScriptedHandler.Json("""{"error":"the queue of model 'm' is full"}""", status);
        if (retryAfterSeconds is { } seconds)
        {
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(seconds));
        }
        return response;
    }

    private static FabrikClient Client(HttpMessageHandler handler, TimeProvider clock, RetryPolicy? retry, FabrikTransport transport = FabrikTransport.Http) => new(new FabrikClientOptions
    {
        Transport = transport,
        HttpAddress = new Uri("http://stand-in/"),
        GrpcAddress = new Uri("http://stand-in/"),
        HttpHandler = handler,
        Retry = retry,
        TimeProvider = clock,
    });

    /// <summary>A server that never answers (until the call is cancelled).</summary>
    private sealed class HangingHandler : HttpMessageHandler
    {
        public bool SawGrpcTimeout { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            SawGrpcTimeout |= request.Headers.Contains("grpc-timeout");
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }
    }
}
