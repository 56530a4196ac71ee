using System.Buffers;
using System.IO.Pipelines;
using Fabrik.Errors;
using Fabrik.Tensors;

namespace Fabrik.Protocol.Http;

/// <summary>
/// A whole HTTP request body, read without ever leaving bytes examined but not consumed in
/// Kestrel's request pipe. Kestrel cannot reset its connection pipe after such a read when the
/// client then goes away (a close or reset mid-body, a body timeout): the connection's next read
/// fails with "Reading is already in progress" and its processing ends abnormally. So a body
/// that arrives in one read is parsed where it lies in the pipe (no copy: most requests), and a
/// body that needs several reads is copied out and consumed piece by piece into one pooled array.
/// </summary>
/// <remarks>Owns the pipe's read (first case) or the pooled array (second) until disposed; the
/// caller disposes it exactly once, before the request ends, and does not read the body again.</remarks>
internal readonly struct RequestBody : IDisposable
{
    private readonly PipeReader? _pipe;
    private readonly byte[]? _array;
    private readonly TensorMemoryPool? _pool;

    private RequestBody(PipeReader? pipe, ReadOnlySequence<byte> buffer, byte[]? array, TensorMemoryPool? pool)
    {
        _pipe = pipe;
        Buffer = buffer;
        _array = array;
        _pool = pool;
    }

    /// <summary>The body's bytes.</summary>
    public ReadOnlySequence<byte> Buffer { get; }

    /// <summary>Reads <paramref name="request"/>'s body to its end. A body that spans several reads
    /// goes into an array from <paramref name="pool"/> (sized from Content-Length when given), so
    /// it counts against the pool's limit like the tensors decoded from it.</summary>
    /// <exception cref="BadHttpRequestException">Kestrel's verdicts (over the size limit, cut
    /// short), or 413 for a body larger than the largest pooled array.</exception>
    /// <exception cref="InferenceException">Overloaded: the pool's byte limit is reached.</exception>
    public static async ValueTask<RequestBody> ReadAsync(HttpRequest request, TensorMemoryPool pool, CancellationToken cancellation)
    {
        var pipe = request.BodyReader;
        var result = await pipe.ReadAsync(cancellation);
        if (result.IsCompleted)
        {
            return new RequestBody(pipe, result.Buffer, null, null);
        }
        var array = Rent(pool, Capacity(request.ContentLength, result.Buffer.Length));
        var length = 0L;
        try
        {
            while (true)
            {
                ThrowIfCanceled(result);
                var buffer = result.Buffer;
                if (length + buffer.Length > array.Length)
                {
                    var larger = Rent(pool, Capacity(null, length + buffer.Length));
                    array.AsSpan(0, (int)length).CopyTo(larger);
                    pool.Return(array, (int)length); // only the bytes copied in need clearing
                    array = larger;
                }
                buffer.CopyTo(array.AsSpan((int)length));
                length += buffer.Length;
                pipe.AdvanceTo(buffer.End); // consumed == examined: Kestrel can always reset its pipe
                if (result.IsCompleted)
                {
                    return new RequestBody(null, new ReadOnlySequence<byte>(array, 0, (int)length), array, pool);
                }
                result = await pipe.ReadAsync(cancellation);
            }
        }
        catch
        {
            pool.Return(array);
            throw;
        }
    }

    /// <summary>Gives back the pipe's read or the pooled array.</summary>
    public void Dispose()
    {
        if (_pipe is not null)
        {
            _pipe.AdvanceTo(Buffer.End);
        }
        else if (_array is not null)
        {
            _pool!.Return(_array, (int)Buffer.Length);
        }
    }

    /// <summary>The array size for a body of <paramref name="contentLength"/> bytes, or, without
    /// one, twice what has arrived so far; checked against the pool's largest array.</summary>
    private static long Capacity(long? contentLength, long received)
    {
        var wanted = contentLength ?? Math.Max(received * 2, 64 * 1024);
        if (contentLength is null)
        {
            wanted = Math.Min(wanted, TensorMemoryPool.MaximumLength);
        }
        if (wanted > TensorMemoryPool.MaximumLength || received > TensorMemoryPool.MaximumLength)
        {
            throw new BadHttpRequestException(
                $"the request body is larger than {TensorMemoryPool.MaximumLength} bytes, the most one request may carry", StatusCodes.Status413PayloadTooLarge);
        }
        return Math.Max(wanted, received);
    }

    private static byte[] Rent(TensorMemoryPool pool, long length)
    {
        try
        {
            return pool.Rent(length);
        }
        catch (TensorPoolExhaustedException e)
        {
            throw InferenceException.Overloaded(e.Message);
        }
    }

    private static void ThrowIfCanceled(ReadResult result)
    {
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("the request body's read was canceled");
        }
    }
}
