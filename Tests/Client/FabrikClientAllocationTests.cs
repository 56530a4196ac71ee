using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Fabrik.Client;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>
/// The binary path allocates nothing per element: a request and answer of a million FP32
/// elements allocate about what one of 16 elements does. The stand-in server answers at once,
/// so the whole call runs on the test's thread and its allocation counter sees all of it.
/// </summary>
public sealed class FabrikClientAllocationTests
{
    [Fact]
    public async Task Infer_BinaryPath_AllocatesTheSameForAMillionElementsAsForSixteen()
    {
        var small = await AllocatedPerCallAsync(16);
        var large = await AllocatedPerCallAsync(1 << 20);
        // 4 MiB each way would show as megabytes; a few hundred bytes of difference are the longer
        // numbers in the JSON header.
        Assert.True(large - small < 2048, $"16 elements: {small} B per call; 1,048,576 elements: {large} B per call");
    }

    private static async Task<long> AllocatedPerCallAsync(int elements)
    {
        var values = new float[elements];
        var header = Encoding.UTF8.GetBytes($$$"""{"model_name":"m","model_version":"1","outputs":[{"name":"Y","datatype":"FP32","shape":[{{{elements}}}],"parameters":{"binary_data_size":{{{elements * 4}}}}}]}""");
        var body = new byte[header.Length + elements * 4];
        header.CopyTo(body, 0);
        using var client = new FabrikClient(new FabrikClientOptions
        {
            HttpAddress = new Uri("http://stand-in/"),
            HttpHandler = new CannedHandler(body, header.Length),
            Timeout = Timeout.InfiniteTimeSpan,
        });
        var request = new InferRequest("m").WithInput(InferInput.Create("X", values, elements));
        for (var i = 0; i < 5; i++)
        {
            using var warm = await client.InferAsync(request);
        }
        const int calls = 20;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < calls; i++)
        {
            using var result = await client.InferAsync(request);
            Assert.Equal(elements, result.GetOutput<float>("Y").Length);
        }
        return (GC.GetAllocatedBytesForCurrentThread() - before) / calls;
    }

    /// <summary>Reads the request body through (without keeping it) and answers with the same bytes every time.</summary>
    private sealed class CannedHandler(byte[] body, int headerLength) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Content!.CopyTo(Stream.Null, null, cancellationToken);
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(body), RequestMessage = request };
            response.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            response.Headers.TryAddWithoutValidation("Inference-Header-Content-Length", headerLength.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return Task.FromResult(response);
        }
    }
}
