using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Fabrik.Client.Wire;

namespace Fabrik.Client.Http;

/// <summary>
/// The body of an HTTP inference request: the JSON header from a pooled buffer, then the binary
/// inputs' bytes straight from the caller's memory (the binary tensor extension), with
/// <c>Inference-Header-Content-Length</c> when there are any. Owns the header buffer and gives it
/// back when disposed; one is made for each attempt.
/// </summary>
internal sealed class InferRequestContent : HttpContent
{
    public const string HeaderLengthName = "Inference-Header-Content-Length";

    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly MediaTypeHeaderValue OctetStream = new("application/octet-stream");

    private readonly PooledBufferWriter _header;
    private readonly ReadOnlyMemory<byte>[] _binary;
    private readonly long _length;

    public InferRequestContent(PooledBufferWriter header, ReadOnlyMemory<byte>[] binary)
    {
        _header = header;
        _binary = binary;
        _length = header.WrittenCount;
        foreach (var data in binary)
        {
            _length += data.Length;
        }
        Headers.ContentType = binary.Length == 0 ? Json : OctetStream;
        if (binary.Length > 0)
        {
            Headers.TryAddWithoutValidation(HeaderLengthName, header.WrittenCount.ToString(CultureInfo.InvariantCulture));
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(_header.WrittenMemory, cancellationToken);
        foreach (var data in _binary)
        {
            await stream.WriteAsync(data, cancellationToken);
        }
    }

    protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        stream.Write(_header.WrittenMemory.Span);
        foreach (var data in _binary)
        {
            stream.Write(data.Span);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = _length;
        return true;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _header.Dispose();
        }
        base.Dispose(disposing);
    }
}
