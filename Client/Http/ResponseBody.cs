using System.Buffers;

namespace Fabrik.Client.Http;

/// <summary>
/// A response body read whole into an array rented from <see cref="ArrayPool{T}.Shared"/>, at most
/// a set number of bytes. The <see cref="InferResult"/> built over it owns it and gives the array
/// back when disposed; other callers dispose it once parsed.
/// </summary>
internal sealed class ResponseBody : IDisposable
{
    private byte[]? _array;

    private ResponseBody(byte[] array, int length)
    {
        _array = array;
        Length = length;
    }

    public int Length { get; }

    public ReadOnlyMemory<byte> Memory => (_array ?? throw new ObjectDisposedException(nameof(ResponseBody))).AsMemory(0, Length);

    public static async Task<ResponseBody> ReadAsync(HttpContent content, int maximum, CancellationToken cancellation)
    {
        var declared = content.Headers.ContentLength;
        if (declared > maximum)
        {
            throw HttpErrors.InvalidResponse($"the answer is {declared} bytes, more than the {maximum} the client accepts (FabrikClientOptions.MaxResponseBytes)");
        }
        var array = ArrayPool<byte>.Shared.Rent(declared is { } known ? Math.Max((int)known, 1) : 16 * 1024);
        var length = 0;
        try
        {
            await using var stream = await content.ReadAsStreamAsync(cancellation);
            // A declared length ends the reading there: the array need not grow for an end-of-stream read.
            while (length != declared)
            {
                if (length == array.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)length * 2, Array.MaxLength));
                    array.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(array);
                    array = larger;
                }
                var read = await stream.ReadAsync(array.AsMemory(length), cancellation);
                if (read == 0)
                {
                    break;
                }
                length += read;
                if (length > maximum)
                {
                    throw HttpErrors.InvalidResponse($"the answer is more than the {maximum} bytes the client accepts (FabrikClientOptions.MaxResponseBytes)");
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(array);
            throw;
        }
        if (declared is { } expected && expected != length)
        {
            ArrayPool<byte>.Shared.Return(array);
            throw HttpErrors.InvalidResponse($"the answer declared {expected} bytes but {length} came");
        }
        return new ResponseBody(array, length);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _array, null) is { } array)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }
}
