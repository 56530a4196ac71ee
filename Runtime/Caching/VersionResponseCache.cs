using System.Buffers.Binary;
using System.Text;
using Fabrik.Errors;
using Fabrik.Inference;
using Fabrik.Tensors;

namespace Fabrik.Caching;

/// <summary>
/// One served model version's view of the server's <see cref="ResponseCache"/>: it makes its
/// requests' keys, each starting with the version's identity (model name, version, and a number
/// unique to this load), looks them up and stores their responses. Created with the version when
/// its configuration enables the cache and the server has one; its entries are dropped when the
/// version is unloaded.
/// </summary>
/// <remarks>Thread-safe: it holds no state of its own beyond what it is built with.</remarks>
internal sealed class VersionResponseCache
{
    private readonly ResponseCache _cache;
    private readonly TensorMemoryPool _pool;
    private readonly byte[] _identity;
    private readonly byte[][] _inputNames;

    /// <param name="cache">The server's cache.</param>
    /// <param name="pool">Where keys and the copies of cached responses are rented.</param>
    /// <param name="model">The model's name.</param>
    /// <param name="version">Its version.</param>
    /// <param name="inputNames">Its inputs' names, in configuration order.</param>
    public VersionResponseCache(ResponseCache cache, TensorMemoryPool pool, string model, long version, IEnumerable<string> inputNames)
    {
        _cache = cache;
        _pool = pool;
        var name = Encoding.UTF8.GetBytes(model);
        _identity = new byte[4 + name.Length + 16];
        BinaryPrimitives.WriteInt32LittleEndian(_identity, name.Length);
        name.CopyTo(_identity, 4);
        BinaryPrimitives.WriteInt64LittleEndian(_identity.AsSpan(4 + name.Length), version);
        BinaryPrimitives.WriteInt64LittleEndian(_identity.AsSpan(12 + name.Length), cache.NextGeneration());
        _inputNames = inputNames.Select(name => Encoding.UTF8.GetBytes(name)).ToArray();
    }

    /// <summary>The key of <paramref name="request"/>, or no key (<c>default</c>) when it would not
    /// fit the pool's largest buffer: such a request runs uncached. The caller disposes it.</summary>
    /// <exception cref="InferenceException">Overloaded: the pool has no room for the key.</exception>
    public CacheKey CreateKey(InferenceRequest request)
    {
        var parameters = ParameterNames(request);
        var measure = new CacheKeyWriter(default);
        measure.Write(_identity, _inputNames, request, parameters);
        if (measure.Length > _pool.LargestTensorBytes || measure.Length > Array.MaxLength)
        {
            return default;
        }
        var length = (int)measure.Length;
        byte[] array;
        try
        {
            array = _pool.Rent(length);
        }
        catch (TensorPoolExhaustedException e)
        {
            throw InferenceException.Overloaded(e.Message);
        }
        var writer = new CacheKeyWriter(array.AsSpan(0, length));
        writer.Write(_identity, _inputNames, request, parameters);
        return new CacheKey(_pool, array, length);
    }

    /// <summary>The cached response to the request <paramref name="key"/> stands for (the caller
    /// owns it), or null.</summary>
    /// <exception cref="InferenceException">Overloaded: the pool has no room for the copy.</exception>
    public InferenceResponse? TryGet(in CacheKey key)
    {
        try
        {
            return key.IsValid ? _cache.TryGet(key, _pool) : null;
        }
        catch (TensorPoolExhaustedException e)
        {
            throw InferenceException.Overloaded(e.Message);
        }
    }

    /// <summary>Stores a copy of <paramref name="response"/>, which the caller keeps.</summary>
    public void Store(in CacheKey key, InferenceResponse response)
    {
        if (key.IsValid)
        {
            _cache.TryAdd(key, response, this);
        }
    }

    /// <summary>Drops this version's entries (it is being unloaded).</summary>
    public void Clear() => _cache.RemoveAll(this);

    private static string[] ParameterNames(InferenceRequest request)
    {
        if (request.Parameters.Count == 0)
        {
            return [];
        }
        var names = request.Parameters.Keys.Where(name => !CacheKeyWriter.IsSchedulingParameter(name)).ToArray();
        Array.Sort(names, StringComparer.Ordinal);
        return names;
    }
}
