namespace Fabrik.Testing;

/// <summary>
/// Fails a request whose answer carries server internals: the repository's absolute path,
/// ONNX Runtime's or libtorch's names, or a stack trace. The shared test server's client goes
/// through it, so every response body in those tests is checked, not only those of the tests
/// about errors.
/// </summary>
public sealed class LeakCheckingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private static readonly string[] Forbidden =
    [
        Path.GetFullPath(RepositoryLayout.Models),
        new DirectoryInfo(RepositoryLayout.Models).ResolveLinkTarget(true)?.FullName ?? Path.GetFullPath(RepositoryLayout.Models),
        "fabrik-repository-", // the folders TemporaryRepository makes
        "Microsoft.ML.OnnxRuntime",
        "libtorch",
        "   at ",
        "Exception raised from",
    ];

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        await response.Content.LoadIntoBufferAsync(cancellationToken);
        // "pytorch_libtorch" is Triton's platform name, not a library message.
        var body = (await response.Content.ReadAsStringAsync(cancellationToken)).Replace("pytorch_libtorch", "", StringComparison.Ordinal);
        foreach (var forbidden in Forbidden)
        {
            if (body.Contains(forbidden, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{request.Method} {request.RequestUri} answered with server internals ('{forbidden}'): {body}");
            }
        }
        return response;
    }
}
