using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BenchmarkDotNet.Attributes;

namespace Fabrik.Benchmarks;

/// <summary>
/// What one request costs .NET's TLS stack alone, with no socket, no Kestrel and no Fabrik: a
/// request and a response of the sizes of a binary <c>simple</c> inference (470 and 330 bytes)
/// sent through two <see cref="SslStream"/>s joined by in-memory pipes (TLS 1.3, ECDSA P-256,
/// each of the three TLS 1.3 suites in turn). Each round trip seals and opens one record each way at
/// each end, so the server's share of <see cref="TlsRoundTrip"/> minus <see cref="PlainRoundTrip"/>
/// is about half: the floor under what TLS adds to a served request (Benchmarks/tls-cost.sh).
/// </summary>
[MemoryDiagnoser]
public class TlsRecordBenchmarks
{
    private const int RequestBytes = 470;
    private const int ResponseBytes = 330;

    private readonly byte[] _request = RandomNumberGenerator.GetBytes(RequestBytes);
    private readonly byte[] _response = RandomNumberGenerator.GetBytes(ResponseBytes);
    private readonly byte[] _readBuffer = new byte[16 * 1024];
    private (Stream Client, Stream Server) _plain;
    private (SslStream Client, SslStream Server) _tls;
    private X509Certificate2 _certificate = null!;

    /// <summary>The suite the server allows (the default, AES-256-GCM, first).</summary>
    [Params(TlsCipherSuite.TLS_AES_256_GCM_SHA384, TlsCipherSuite.TLS_AES_128_GCM_SHA256, TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256)]
    public TlsCipherSuite Suite { get; set; } = TlsCipherSuite.TLS_AES_256_GCM_SHA384;

    [GlobalSetup]
    public void Setup()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var selfSigned = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Through PKCS#12 so that OpenSSL gets a key it can use on Linux.
        _certificate = X509CertificateLoader.LoadPkcs12(selfSigned.Export(X509ContentType.Pkcs12), null);

        _plain = Joined();
        var (clientInner, serverInner) = Joined();
        _tls = (new SslStream(clientInner), new SslStream(serverInner));
        var server = _tls.Server.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = _certificate,
            // Suites can be chosen on Linux and macOS only (CA1416); elsewhere the default runs.
            CipherSuitesPolicy = OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() ? new CipherSuitesPolicy([Suite]) : null,
        });
        var client = _tls.Client.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        Task.WaitAll(server, client);
        if (_tls.Server.NegotiatedCipherSuite != Suite && (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()))
        {
            throw new InvalidOperationException($"asked for {Suite}, negotiated {_tls.Server.NegotiatedCipherSuite}");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tls.Client.Dispose();
        _tls.Server.Dispose();
        _plain.Client.Dispose();
        _plain.Server.Dispose();
        _certificate.Dispose();
    }

    [Benchmark(Baseline = true)]
    public Task PlainRoundTrip() => RoundTripAsync(_plain.Client, _plain.Server);

    [Benchmark]
    public Task TlsRoundTrip() => RoundTripAsync(_tls.Client, _tls.Server);

    private async Task RoundTripAsync(Stream client, Stream server)
    {
        await client.WriteAsync(_request);
        await ReadAsync(server, RequestBytes);
        await server.WriteAsync(_response);
        await ReadAsync(client, ResponseBytes);
    }

    private async Task ReadAsync(Stream stream, int count)
    {
        for (var read = 0; read < count;)
        {
            read += await stream.ReadAsync(_readBuffer.AsMemory(0, count - read));
        }
    }

    /// <summary>Two streams, each reading what the other writes.</summary>
    private static (Stream, Stream) Joined()
    {
        var toServer = new Pipe(new PipeOptions(useSynchronizationContext: false));
        var toClient = new Pipe(new PipeOptions(useSynchronizationContext: false));
        return (new DuplexStream(toClient.Reader.AsStream(), toServer.Writer.AsStream()),
                new DuplexStream(toServer.Reader.AsStream(), toClient.Writer.AsStream()));
    }

    /// <summary>A stream that reads from one stream and writes to another.</summary>
    private sealed class DuplexStream(Stream input, Stream output) : Stream
    {
        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            input.ReadAsync(buffer, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            output.WriteAsync(buffer, cancellationToken);

        public override Task FlushAsync(CancellationToken cancellationToken) => output.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => input.Read(buffer, offset, count);
        public override void Write(byte[] buffer, int offset, int count) => output.Write(buffer, offset, count);
        public override void Flush() => output.Flush();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                input.Dispose();
                output.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
