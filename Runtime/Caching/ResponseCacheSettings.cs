using System.Globalization;

namespace Fabrik.Caching;

/// <summary>
/// <c>--cache-config</c> as tritonserver reads it: <c>&lt;cache&gt;,&lt;key&gt;=&lt;value&gt;</c>, repeatable.
/// The <c>local</c> cache is built in and takes <c>size</c> (bytes); any other cache is accepted
/// with a warning and changes nothing, as is a key the local cache does not read. Triton's older
/// <c>--response-cache-byte-size N</c> is <c>local,size=N</c>.
/// </summary>
internal sealed record ResponseCacheSettings
{
    /// <summary>The local cache's size in bytes; null when no local cache was configured.</summary>
    public long? LocalSizeBytes { get; init; }

    /// <summary>True when the server has a cache to serve responses from.</summary>
    public bool Enabled => LocalSizeBytes > 0;

    /// <summary>Applies one <c>--cache-config</c> value.</summary>
    /// <param name="setting">The flag's value, such as <c>local,size=1048576</c>.</param>
    /// <param name="warning">Set when the setting is accepted but changes nothing.</param>
    /// <exception cref="ArgumentException">Not <c>&lt;cache&gt;,&lt;key&gt;=&lt;value&gt;</c>, or a size that is not a byte count.</exception>
    public ResponseCacheSettings WithConfig(string setting, out string? warning)
    {
        warning = null;
        var comma = setting.IndexOf(',', StringComparison.Ordinal);
        var equals = comma < 0 ? -1 : setting.IndexOf('=', comma + 1);
        if (comma <= 0 || equals < 0)
        {
            throw new ArgumentException($"--cache-config takes <cache name>,<setting>=<value> (for example local,size=1048576), got '{setting}'");
        }
        var cache = setting[..comma];
        var key = setting[(comma + 1)..equals];
        var value = setting[(equals + 1)..];
        if (cache != "local")
        {
            warning = $"--cache-config {cache}: only the local cache is built in; the {cache} cache is not used";
            return this;
        }
        if (key != "size")
        {
            warning = $"--cache-config local,{key}: the local cache takes only size; {key} changes nothing";
            return this;
        }
        return TryParseSize(value, out var size)
            ? this with { LocalSizeBytes = size }
            : throw new ArgumentException($"--cache-config local,size takes a size in bytes (0 to {long.MaxValue}), got '{setting}'");
    }

    /// <summary>Triton's deprecated <c>--response-cache-byte-size N</c>: a local cache of N bytes (0: none).</summary>
    public ResponseCacheSettings WithLocalSize(string value) =>
        TryParseSize(value, out var size)
            ? this with { LocalSizeBytes = size }
            : throw new ArgumentException($"--response-cache-byte-size takes a size in bytes (0 to {long.MaxValue}), got '{value}'");

    private static bool TryParseSize(string text, out long size) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out size);
}
