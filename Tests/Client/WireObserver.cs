using System.Collections.Concurrent;

namespace Fabrik.Tests.Client;

/// <summary>Passes HTTP exchanges on and notes what form each took: the request's content type
/// and whether the request and the answer used the binary tensor extension.</summary>
public sealed class WireObserver(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private const string HeaderLength = "Inference-Header-Content-Length";

    public ConcurrentQueue<(string? ContentType, bool BinaryRequest, bool BinaryAnswer)> Exchanges { get; } = new();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        Exchanges.Enqueue((request.Content?.Headers.ContentType?.MediaType, request.Content?.Headers.Contains(HeaderLength) == true,
            response.Headers.Contains(HeaderLength) || response.Content.Headers.Contains(HeaderLength)));
        return response;
    }
}
