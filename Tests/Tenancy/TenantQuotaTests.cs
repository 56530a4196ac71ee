using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Protocol.Triton;
using Google.Protobuf;
using Grpc.Core;
using Xunit;

namespace Fabrik.Tests.Tenancy;

/// <summary>
/// Each tenant quota on a server in memory whose clock the test moves: the request-rate bucket
/// admits exactly what its size and rate allow and says when to retry, over HTTP, gRPC (unary and
/// stream) and the embeddings endpoint alike; the in-flight and waiting limits; the compute budget;
/// and a reload that changes them in place, with a broken file keeping the last good ones.
/// </summary>
public sealed class TenantQuotaTests
{
    private const string AcmeKey = "acme-61f0c2d9e4";
    private const string LabKey = "lab-7a3e9b15c0";
    private const string LoneKey = "lone-2c8d4f6a1b";

    private static string Keys(params JsonObject[] tenants) => TenantHost.KeyFile(
        [("acme-ci", AcmeKey, "acme", ["infer:*"]), ("lab", LabKey, "research", ["infer:*"]), ("lone", LoneKey, null, ["infer:*"])],
        [.. tenants, new JsonObject { ["name"] = "research" }]);

    private static JsonObject Acme(double rate, int burst) => new() { ["name"] = "acme", ["requests_per_second"] = rate, ["burst"] = burst };

    private static async Task<(HttpStatusCode Status, string? RetryAfter)> Send(TenantHost host, string key)
    {
        using var response = await host.InferAsync(key);
        return (response.StatusCode, response.Headers.TryGetValues("Retry-After", out var values) ? values.Single() : null);
    }

    /// <summary>Sends until the first refusal (at most <paramref name="most"/>); returns how many passed and the refusal's Retry-After.</summary>
    private static async Task<(int Admitted, string? RetryAfter)> Drain(TenantHost host, string key, int most = 100)
    {
        for (var admitted = 0; admitted < most; admitted++)
        {
            var (status, retryAfter) = await Send(host, key);
            if (status != HttpStatusCode.OK)
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, status);
                return (admitted, retryAfter);
            }
        }
        return (most, null);
    }

    [Fact]
    public async Task RateBucket_OfTenAtFivePerSecond_AdmitsWhatArithmeticSays()
    {
        var time = new ManualTimeProvider();
        await using var host = await TenantHost.StartAsync(new TemporaryRepository().Add("simple"), Keys(Acme(5, 10)), time);

        // A full bucket: 10 at once, then the 11th waits for one token at 5/s (0.2 s, so 1 s).
        Assert.Equal((10, "1"), await Drain(host, AcmeKey));
        // One second refills 5; half a second 2.5 (2 whole requests).
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal((5, "1"), await Drain(host, AcmeKey));
        time.Advance(TimeSpan.FromSeconds(0.5));
        Assert.Equal((2, "1"), await Drain(host, AcmeKey));
        // Ten seconds refill the bucket to its size, no more.
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal((10, "1"), await Drain(host, AcmeKey));

        // Other tenants, and a key without a tenant, have their own (here unlimited) share.
        Assert.Equal(HttpStatusCode.OK, (await Send(host, LabKey)).Status);
        Assert.Equal(HttpStatusCode.OK, (await Send(host, LoneKey)).Status);
        var acme = host.Tenants.Find("acme")!;
        Assert.Equal((4L, 0L, 0L), acme.Refused);
    }

    [Fact]
    public async Task RetryAfter_IsTheWaitForOneToken_RoundedUpToWholeSeconds()
    {
        var time = new ManualTimeProvider();
        // One request every 4 s.
        await using var host = await TenantHost.StartAsync(new TemporaryRepository().Add("simple"), Keys(Acme(0.25, 1)), time);
        Assert.Equal((1, "4"), await Drain(host, AcmeKey));
        // 0.625 tokens after 2.5 s: 1.5 s to go; 0.9375 after 3.75 s: 0.25 s to go (times exact in binary).
        time.Advance(TimeSpan.FromSeconds(2.5));
        Assert.Equal((HttpStatusCode.TooManyRequests, "2"), await Send(host, AcmeKey));
        time.Advance(TimeSpan.FromSeconds(1.25));
        Assert.Equal((HttpStatusCode.TooManyRequests, "1"), await Send(host, AcmeKey));
        time.Advance(TimeSpan.FromSeconds(0.25));
        Assert.Equal((HttpStatusCode.OK, null), await Send(host, AcmeKey));
    }

    [Fact]
    public async Task OverTheRate_GrpcIsResourceExhausted_TheStreamSaysSoInTheMessage_AndEmbeddingsAnswerInOpenAisShape()
    {
        // The system clock (the embedder batches with a queue delay): one token every 1000 s, so
        // none comes back while the test runs, and a retry is 1000 s away less the time it took.
        await using var host = await TenantHost.StartAsync(new TemporaryRepository().Add("simple").Add("embedder"), Keys(Acme(0.001, 3)));
        using var channel = host.Server.CreateGrpcChannel();
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var headers = new Metadata { { "authorization", "Bearer " + AcmeKey } };
        var message = new ModelInferRequest { ModelName = "simple" };
        foreach (var name in new[] { "INPUT0", "INPUT1" })
        {
            message.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = "INT32", Shape = { 1, 16 } });
            message.RawInputContents.Add(ByteString.CopyFrom(new byte[64]));
        }

        // One token each: unary, stream, embeddings; then each is refused.
        await grpc.ModelInferAsync(message, headers);
        using (var stream = grpc.ModelStreamInfer(headers))
        {
            await stream.RequestStream.WriteAsync(message);
            Assert.True(await stream.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal("", stream.ResponseStream.Current.ErrorMessage);
            Assert.Equal(HttpStatusCode.OK, await EmbedAsync(host));
            await stream.RequestStream.WriteAsync(message);
            Assert.True(await stream.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Contains("tenant 'acme' is over its request rate", stream.ResponseStream.Current.ErrorMessage, StringComparison.Ordinal);
            await stream.RequestStream.CompleteAsync();
        }

        var error = await Assert.ThrowsAsync<RpcException>(() => grpc.ModelInferAsync(message, headers).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Matches("retry in (99[0-9]|1000) s$", error.Status.Detail);

        using var refused = await EmbedResponseAsync(host);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.InRange(long.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture), 990, 1000);
        var body = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("rate_limit_exceeded", (string?)body["code"]);
        Assert.Equal("requests", (string?)body["type"]);
        Assert.Contains("tenant 'acme'", (string?)body["message"], StringComparison.Ordinal);
    }

    private static async Task<HttpStatusCode> EmbedAsync(TenantHost host)
    {
        using var response = await EmbedResponseAsync(host);
        return response.StatusCode;
    }

    private static Task<HttpResponseMessage> EmbedResponseAsync(TenantHost host)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings")
        {
            Content = new StringContent("{\"model\": \"embedder\", \"input\": \"a small test\"}", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AcmeKey);
        return host.Http.SendAsync(request);
    }

    [Fact]
    public async Task InFlightAndWaitingLimits_HoldTwoRunning_OneWaiting_AndRefuseTheFourth()
    {
        var keys = Keys(new JsonObject { ["name"] = "acme", ["max_in_flight"] = 2, ["max_queued"] = 1 });
        await using var host = await TenantHost.StartAsync(new TemporaryRepository().Add("simple"), keys);
        var acme = host.Tenants.Find("acme")!;

        // Two requests whose bodies have not arrived yet hold both slots (admission comes first).
        var first = new HeldBody();
        var second = new HeldBody();
        var running = new[] { Post(host, first), Post(host, second) };
        await Eventually.UntilAsync(() => acme.InFlight == 2, "two requests in flight");
        // The third waits for a slot; the fourth finds the waiting place taken.
        var third = Post(host, new HeldBody(released: true));
        await Eventually.UntilAsync(() => acme.Waiting == 1, "one request waiting");
        using (var fourth = await host.InferAsync(AcmeKey))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, fourth.StatusCode);
            Assert.Equal("1", fourth.Headers.GetValues("Retry-After").Single());
            Assert.Contains("2 requests in flight", await fourth.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        Assert.False(third.IsCompleted);

        // The first answer hands its slot to the waiting request.
        first.Release();
        Assert.Equal(HttpStatusCode.OK, (await running[0]).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await third).StatusCode);
        second.Release();
        Assert.Equal(HttpStatusCode.OK, (await running[1]).StatusCode);
        await Eventually.UntilAsync(() => acme.InFlight == 0 && acme.Waiting == 0, "nothing in flight");
        Assert.Equal(1, acme.Refused.Concurrency);
    }

    private static Task<HttpResponseMessage> Post(TenantHost host, HeldBody body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/simple/infer") { Content = body };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AcmeKey);
        return host.Http.SendAsync(request);
    }

    [Fact]
    public async Task ComputeBudget_RefusesOnceSpent_WithTheWaitForTheDebtToRefill()
    {
        var time = new ManualTimeProvider();
        // 1 device-ms a minute: a few requests of simple spend it.
        var keys = Keys(new JsonObject { ["name"] = "acme", ["compute_ms_per_minute"] = 1 });
        await using var host = await TenantHost.StartAsync(new TemporaryRepository().Add("simple"), keys, time);
        var (admitted, retryAfter) = await Drain(host, AcmeKey, most: 100_000);
        Assert.InRange(admitted, 1, 99_999);
        var charged = host.Tenants.Find("acme")!.Usage("simple").ComputeMicroseconds;
        Assert.True(charged >= 1000, $"refused after {charged} µs of a 1000 µs budget");
        // The debt refills at 1000 µs a minute.
        var expected = Math.Max(1, (long)Math.Ceiling((charged - 1000) / (1000.0 / 60)));
        Assert.Equal(expected.ToString(System.Globalization.CultureInfo.InvariantCulture), retryAfter);
        time.Advance(TimeSpan.FromSeconds(expected));
        Assert.Equal(HttpStatusCode.OK, (await Send(host, AcmeKey)).Status);
    }

    [Fact]
    public async Task Reload_ChangesLimitsAndWeightInPlace_AndABrokenFileKeepsTheLastGoodOnes()
    {
        var time = new ManualTimeProvider();
        await using var host = await TenantHost.StartAsync(new TemporaryRepository().Add("simple"), Keys(Acme(1, 2)), time);
        var acme = host.Tenants.Find("acme")!;
        Assert.Equal((2, "1"), await Drain(host, AcmeKey));

        // 10/s with a bucket of 20: the empty bucket refills 10 in a second, where 1/s would give 1.
        var faster = Acme(10, 20);
        faster["weight"] = 3;
        host.RewriteKeys(Keys(faster), 1);
        // The next request reads the file (the empty bucket still refuses it); time from here
        // refills at the new rate.
        Assert.Equal((HttpStatusCode.TooManyRequests, "1"), await Send(host, AcmeKey));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal((10, "1"), await Drain(host, AcmeKey));
        Assert.Same(acme, host.Tenants.Find("acme"));
        Assert.Equal(3, acme.Weight);

        // A broken file (and one naming an undeclared tenant) changes nothing.
        host.RewriteKeys("{\"keys\": [ {\"id\": \"half", 2);
        Assert.Equal((HttpStatusCode.TooManyRequests, "1"), await Send(host, AcmeKey));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal((10, "1"), await Drain(host, AcmeKey));
        host.RewriteKeys(TenantHost.KeyFile([("acme-ci", AcmeKey, "nobody", ["infer:*"])]), 3);
        Assert.Equal((HttpStatusCode.TooManyRequests, "1"), await Send(host, AcmeKey));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal((10, "1"), await Drain(host, AcmeKey));
        Assert.Equal(3, acme.Weight);
    }

    /// <summary>A request body that is sent only when the test releases it (at once with <c>released</c>).</summary>
    private sealed class HeldBody(bool released = false) : HttpContent
    {
        private readonly TaskCompletionSource _release = NewRelease(released);

        private static TaskCompletionSource NewRelease(bool released)
        {
            var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (released)
            {
                source.SetResult();
            }
            return source;
        }

        public void Release() => _release.TrySetResult();

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.FlushAsync();
            await _release.Task;
            var bytes = Encoding.UTF8.GetBytes(TenantHost.Body(1));
            await stream.WriteAsync(bytes);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
