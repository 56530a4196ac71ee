using System.Collections.Concurrent;
using System.Diagnostics;
using Fabrik.Client;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>The caller's W3C trace context travels with each call: the server's span for the
/// request continues the caller's trace, with the caller's span as its parent.</summary>
public sealed class FabrikClientTracingTests
{
    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Infer_InsideTheCallersActivity_ServerSpanContinuesItsTrace(ClientMode mode)
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Fabrik",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        using var repository = new TemporaryRepository().Add("simple");
        await using var fabrik = await InMemoryFabrik.StartAsync("--model-repository", repository.Path, "--trace-config", "rate=1", "--trace-config", "level=TIMESTAMPS");
        using var client = ClientHost.Create(fabrik, mode);

        using var caller = new Activity("checkout").SetIdFormat(ActivityIdFormat.W3C).Start();
        caller.TraceStateString = "vendor=client-test";
        var request = new InferRequest("simple")
            .WithInput(InferInput.Create("INPUT0", new int[16], 1, 16))
            .WithInput(InferInput.Create("INPUT1", new int[16], 1, 16));
        using (await client.InferAsync(request))
        {
        }
        caller.Stop();

        await Eventually.UntilAsync(() => spans.Any(span => span.TraceId == caller.TraceId && span.DisplayName == "infer"), "the server's span in the caller's trace");
        var served = spans.Single(span => span.TraceId == caller.TraceId && span.DisplayName == "infer");
        Assert.Equal(caller.SpanId, served.ParentSpanId);
        Assert.Equal(mode == ClientMode.Grpc ? "GRPC" : "HTTP", served.GetTagItem("inference.protocol"));
    }
}
