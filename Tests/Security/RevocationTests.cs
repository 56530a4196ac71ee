using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Fabrik.Security.Transport;
using Fabrik.Tests.Support;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit;

namespace Fabrik.Tests.Security;

/// <summary>
/// Client certificate revocation from CRL files (offline): a CA, client certificates and CRLs made
/// in the test with <see cref="CertificateRevocationListBuilder"/>, real handshakes against real
/// Kestrel listeners on loopback. A revoked client is refused in the handshake on HTTP, gRPC and
/// metrics while the others are served; the CRL file reloads when it changes.
/// </summary>
public sealed class RevocationTests : TlsServerTests
{
    private string[] MutualTls(string crl, (string CertificatePath, string KeyPath) server) =>
    [
        "--http-tls-cert", server.CertificatePath, "--http-tls-key", server.KeyPath, "--http-tls-client-ca", Pki.CaPath, "--http-tls-client-crl", crl,
        "--grpc-use-ssl=true", "--grpc-server-cert", server.CertificatePath, "--grpc-server-key", server.KeyPath,
        "--grpc-use-ssl-mutual=true", "--grpc-root-cert", Pki.CaPath, "--grpc-client-crl", crl,
        "--metrics-tls-cert", server.CertificatePath, "--metrics-tls-key", server.KeyPath, "--metrics-tls-client-ca", Pki.CaPath, "--metrics-tls-client-crl", crl,
    ];

    [Fact]
    public async Task ARevokedClientCertificate_IsRefusedInTheHandshake_OnEveryListener_WhileOthersAreServed()
    {
        var server = Pki.Issue("CN=fabrik-server", server: true, "server");
        var good = Pki.Issue("CN=good-client", server: false, "good");
        var revoked = Pki.Issue("CN=revoked-client", server: false, "revoked");
        var crl = Pki.WriteCrl("clients.crl.pem", [revoked.Certificate]);
        var audit = Path.Combine(Pki.Folder, "audit.jsonl");
        await using var fabrik = await StartAsync([.. MutualTls(crl, (server.CertificatePath, server.KeyPath)), "--audit-log", audit]);

        using (var refused = new HttpClient(Pki.Handler(revoked.Certificate)) { BaseAddress = fabrik.HttpAddress })
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => refused.GetAsync("/v2/health/ready"));
        }
        using (var served = new HttpClient(Pki.Handler(good.Certificate)) { BaseAddress = fabrik.HttpAddress })
        {
            await TlsTests.AssertSimpleInfersAsync(served);
        }

        using (var refusedChannel = GrpcChannel.ForAddress(fabrik.GrpcAddress!, new GrpcChannelOptions { HttpHandler = Pki.Handler(revoked.Certificate) }))
        {
            // With TLS 1.3 the client learns of the refusal after its side of the handshake, so the
            // call fails as UNAVAILABLE or INTERNAL depending on when the alert arrives.
            var error = await Assert.ThrowsAsync<RpcException>(() => new GRPCInferenceService.GRPCInferenceServiceClient(refusedChannel).ServerLiveAsync(new ServerLiveRequest()).ResponseAsync);
            Assert.Contains(error.StatusCode, new[] { StatusCode.Unavailable, StatusCode.Internal });
        }
        using (var channel = GrpcChannel.ForAddress(fabrik.GrpcAddress!, new GrpcChannelOptions { HttpHandler = Pki.Handler(good.Certificate) }))
        {
            await TlsTests.AssertSimpleInfersAsync(new GRPCInferenceService.GRPCInferenceServiceClient(channel));
        }

        using (var refusedScraper = new HttpClient(Pki.Handler(revoked.Certificate)) { BaseAddress = fabrik.MetricsAddress })
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => refusedScraper.GetAsync("/metrics"));
        }
        using var scraper = new HttpClient(Pki.Handler(good.Certificate)) { BaseAddress = fabrik.MetricsAddress };
        Assert.Contains("nv_inference_request_success", await scraper.GetStringAsync("/metrics"), StringComparison.Ordinal);

        // Each refusal is audited with its reason; the good client never is.
        var refusals = AuditRecords(audit, "tls-client-refused");
        Assert.True(refusals.Count >= 3, $"{refusals.Count} refusals audited");
        Assert.All(refusals, record =>
        {
            Assert.Equal("CN=revoked-client", (string?)record["subject"]);
            Assert.Contains("is revoked", (string?)record["reason"], StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task TheCrlFile_ReloadsWhenItChanges_AndABadFileKeepsThePreviousLists()
    {
        var (fabrik, client, bystander, crl) = await StartWithHttpCrlAsync();
        await using var _ = fabrik;

        // A fresh client per request: each makes its own handshake.
        async Task<bool> HandshakeSucceedsAsync()
        {
            using var http = new HttpClient(Pki.Handler(client.Certificate)) { BaseAddress = fabrik.HttpAddress };
            try
            {
                await TlsTests.AssertSimpleInfersAsync(http);
                return true;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }

        Assert.True(await HandshakeSucceedsAsync());

        // The next CRL (written beside and moved into place) revokes the client as well.
        var next = Pki.WriteCrl("next.crl.pem", [bystander, client.Certificate], crlNumber: 2);
        File.Move(next, crl, overwrite: true);
        Assert.False(await HandshakeSucceedsAsync());

        // A half-written file does not undo the revocation.
        File.WriteAllText(crl, "-----BEGIN X509 CRL-----\nMIIB\n");
        Assert.False(await HandshakeSucceedsAsync());

        // A DER CRL that no longer lists the client lets it back in.
        var reinstated = Pki.WriteCrl("reinstated.crl", [bystander], crlNumber: 3, der: true);
        File.Move(reinstated, crl, overwrite: true);
        Assert.True(await HandshakeSucceedsAsync());
    }

    [Fact]
    public async Task OpenConnections_AreClosedWhenTheirCertificateIsRevoked_OthersStayOpen()
    {
        var server = Pki.Issue("CN=fabrik-server", server: true, "server");
        var client = Pki.Issue("CN=ci-client", server: false, "client");
        var other = Pki.Issue("CN=other-client", server: false, "other");
        var bystander = Pki.Issue("CN=bystander", server: false, "bystander");
        var crl = Pki.WriteCrl("clients.crl.pem", [bystander.Certificate], crlNumber: 1);
        var audit = Path.Combine(Pki.Folder, "audit.jsonl");
        await using var fabrik = await StartAsync([.. MutualTls(crl, (server.CertificatePath, server.KeyPath)), "--audit-log", audit]);

        // Connections opened and used before the revocation: two by hand over HTTP/1.1 keep-alive,
        // and a gRPC channel (HTTP/2).
        await using var revokedConnection = await KeepAliveConnection.OpenAsync(fabrik.HttpAddress!, client.Certificate);
        await using var otherConnection = await KeepAliveConnection.OpenAsync(fabrik.HttpAddress!, other.Certificate);
        Assert.StartsWith("HTTP/1.1 200", await revokedConnection.GetAsync("/v2/health/ready"), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200", await otherConnection.GetAsync("/v2/health/ready"), StringComparison.Ordinal);
        using var channel = GrpcChannel.ForAddress(fabrik.GrpcAddress!, new GrpcChannelOptions { HttpHandler = Pki.Handler(client.Certificate) });
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        Assert.True((await grpc.ServerLiveAsync(new ServerLiveRequest())).Live);

        var next = Pki.WriteCrl("next.crl.pem", [bystander.Certificate, client.Certificate], crlNumber: 2);
        File.Move(next, crl, overwrite: true);

        // The server closes the revoked client's connection without waiting for its next request.
        Assert.True(await revokedConnection.ClosedByServerAsync(TimeSpan.FromSeconds(10)), "the revoked client's connection is still open");
        // The channel's connection is closed too, and a new handshake is refused.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        RpcException? refused = null;
        while (refused is null && DateTime.UtcNow < deadline)
        {
            try
            {
                await grpc.ServerLiveAsync(new ServerLiveRequest());
                await Task.Delay(100);
            }
            catch (RpcException e)
            {
                refused = e;
            }
        }
        Assert.NotNull(refused);
        // The other client is still served on the connection it had.
        Assert.StartsWith("HTTP/1.1 200", await otherConnection.GetAsync("/v2/health/ready"), StringComparison.Ordinal);

        var closed = AuditRecords(audit, "tls-connection-closed");
        Assert.Equal(2, closed.Count);
        Assert.All(closed, record =>
        {
            Assert.Equal("CN=ci-client", (string?)record["subject"]);
            Assert.StartsWith("127.0.0.1:", (string?)record["client"], StringComparison.Ordinal);
            Assert.Contains("is revoked", (string?)record["reason"], StringComparison.Ordinal);
        });
        Assert.Equal(
            new[] { fabrik.HttpAddress!.Port, fabrik.GrpcAddress!.Port }.Order(),
            closed.Select(record => System.Net.IPEndPoint.Parse((string)record["listener"]!).Port).Order());
    }

    [OpenSslFact]
    public async Task AResumedTlsSession_IsCheckedAgainstTheCurrentCrl()
    {
        // A resumed session carries no certificate over the wire (TLS 1.3 PSK, TLS 1.2 session
        // ticket); the server must still refuse it once the certificate it was made with is revoked.
        var (fabrik, client, bystander, crl) = await StartWithHttpCrlAsync();
        await using var _ = fabrik;
        var session = Path.Combine(Pki.Folder, "session.pem");

        async Task<string> GetReadyAsync(string protocol, string sessionFlag)
        {
            var start = new System.Diagnostics.ProcessStartInfo(OpenSslFactAttribute.OpenSsl!)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var argument in new[]
            {
                "s_client", protocol, "-connect", $"127.0.0.1:{fabrik.HttpAddress!.Port}", "-servername", "localhost",
                "-CAfile", Pki.CaPath, "-cert", client.CertificatePath, "-key", client.KeyPath, sessionFlag, session, "-ign_eof",
            })
            {
                start.ArgumentList.Add(argument);
            }
            using var process = System.Diagnostics.Process.Start(start)!;
            try
            {
                var output = process.StandardOutput.ReadToEndAsync();
                var error = process.StandardError.ReadToEndAsync();
                try
                {
                    await process.StandardInput.WriteAsync("GET /v2/health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
                    process.StandardInput.Close();
                }
                catch (IOException)
                {
                    // s_client already gave up (a refused handshake): its output says why.
                }
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
                return await output + await error;
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }

        foreach (var protocol in new[] { "-tls1_3", "-tls1_2" })
        {
            File.Move(Pki.WriteCrl("current.crl.pem", [bystander], crlNumber: 1), crl, overwrite: true);
            var first = await GetReadyAsync(protocol, "-sess_out");
            Assert.Contains("HTTP/1.1 200", first, StringComparison.Ordinal);
            Assert.Contains("New, TLSv1.", first, StringComparison.Ordinal);

            File.Move(Pki.WriteCrl("next.crl.pem", [bystander, client.Certificate], crlNumber: 2), crl, overwrite: true);
            var resumed = await GetReadyAsync(protocol, "-sess_in");
            // The session was resumed (else this test would prove nothing), and refused all the same.
            Assert.Contains("Reused, TLSv1.", resumed, StringComparison.Ordinal);
            Assert.DoesNotContain("HTTP/1.1 200", resumed, StringComparison.Ordinal);
        }
    }

    /// <summary>A server with mutual TLS on HTTP whose CRL revokes only a bystander; returns it,
    /// a client certificate the test may revoke, the bystander's, and the CRL file.</summary>
    private async Task<(FabrikServer Fabrik, (X509Certificate2 Certificate, string CertificatePath, string KeyPath) Client, X509Certificate2 Bystander, string Crl)> StartWithHttpCrlAsync()
    {
        var server = Pki.Issue("CN=fabrik-server", server: true, "server");
        var client = Pki.Issue("CN=ci-client", server: false, "client");
        var bystander = Pki.Issue("CN=bystander", server: false, "bystander");
        var crl = Pki.WriteCrl("clients.crl.pem", [bystander.Certificate], crlNumber: 1);
        var fabrik = await StartAsync(
            "--http-tls-cert", server.CertificatePath, "--http-tls-key", server.KeyPath, "--http-tls-client-ca", Pki.CaPath, "--http-tls-client-crl", crl);
        return (fabrik, client, bystander.Certificate, crl);
    }

    /// <summary>The audit log's records of one event.</summary>
    private static List<System.Text.Json.Nodes.JsonNode> AuditRecords(string audit, string name)
    {
        using var stream = new FileStream(audit, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => System.Text.Json.Nodes.JsonNode.Parse(line)!).Where(record => (string?)record["event"] == name).ToList();
    }

    /// <summary>One TLS connection held open by hand, so that the test knows which connection a
    /// request travels on (HttpClient would silently open a new one).</summary>
    private sealed class KeepAliveConnection : IAsyncDisposable
    {
        private readonly System.Net.Sockets.TcpClient _tcp;
        private readonly System.Net.Security.SslStream _tls;

        private KeepAliveConnection(System.Net.Sockets.TcpClient tcp, System.Net.Security.SslStream tls)
        {
            _tcp = tcp;
            _tls = tls;
        }

        public static async Task<KeepAliveConnection> OpenAsync(Uri address, X509Certificate2 certificate)
        {
            var tcp = new System.Net.Sockets.TcpClient();
            try
            {
                await tcp.ConnectAsync(address.Host, address.Port);
                var tls = new System.Net.Security.SslStream(tcp.GetStream());
                await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    ClientCertificates = [certificate],
                    RemoteCertificateValidationCallback = (_, _, _, _) => true,
                });
                return new KeepAliveConnection(tcp, tls);
            }
            catch
            {
                tcp.Dispose();
                throw;
            }
        }

        /// <summary>Sends a GET and returns the response's head (the endpoints used answer without a body).</summary>
        public async Task<string> GetAsync(string path)
        {
            await _tls.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"));
            var received = new System.Text.StringBuilder();
            var buffer = new byte[4096];
            while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await _tls.ReadAsync(buffer);
                if (read == 0)
                {
                    throw new IOException("the server closed the connection");
                }
                received.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, read));
            }
            return received.ToString();
        }

        /// <summary>Whether the server closes the connection within <paramref name="limit"/>, with nothing asked.</summary>
        public async Task<bool> ClosedByServerAsync(TimeSpan limit)
        {
            using var timeout = new CancellationTokenSource(limit);
            try
            {
                return await _tls.ReadAsync(new byte[1], timeout.Token) == 0;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            catch (IOException)
            {
                return true;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _tls.DisposeAsync();
            _tcp.Dispose();
        }
    }

    [Fact]
    public async Task ACrlNotSignedByTheClientCa_FailsStartUp()
    {
        var server = Pki.Issue("CN=fabrik-server", server: true, "server");
        // Same CA name, another key: a forged list.
        using var impostor = new TestCertificates("Fabrik Test CA");
        var forged = impostor.WriteCrl("forged.crl.pem", []);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync(
            "--http-tls-cert", server.CertificatePath, "--http-tls-key", server.KeyPath, "--http-tls-client-ca", Pki.CaPath, "--http-tls-client-crl", forged));
        Assert.Contains("not signed by any CA of the client CA file", error.Message, StringComparison.Ordinal);

        File.WriteAllText(forged, "not a CRL");
        error = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync(
            "--http-tls-cert", server.CertificatePath, "--http-tls-key", server.KeyPath, "--http-tls-client-ca", Pki.CaPath, "--http-tls-client-crl", forged));
        Assert.Contains("holds no X509 CRL", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refusal_NamesRevokedExpiredNotYetValidAndMissingLists()
    {
        var client = Pki.Issue("CN=ci-client", server: false, "client");
        var other = Pki.Issue("CN=other", server: false, "other");
        X509Certificate2Collection roots = [Pki.Ca];
        var now = DateTimeOffset.UtcNow;
        string? Refusal(string crl) => ListenerTls.Refusal(client.Certificate, roots, RevocationLists.Load(crl), now);

        Assert.Null(Refusal(Pki.WriteCrl("current.pem", [other.Certificate])));
        Assert.Contains("is revoked", Refusal(Pki.WriteCrl("revoked.pem", [other.Certificate, client.Certificate])), StringComparison.Ordinal);
        Assert.Contains("expired", Refusal(Pki.WriteCrl("expired.pem", [], thisUpdate: now.AddDays(-8), nextUpdate: now.AddDays(-1))), StringComparison.Ordinal);
        Assert.Contains("not valid before", Refusal(Pki.WriteCrl("future.pem", [], thisUpdate: now.AddDays(1), nextUpdate: now.AddDays(8))), StringComparison.Ordinal);

        // A list from another CA says nothing about this one's certificates: status unknown, refused.
        using var otherPki = new TestCertificates("Other CA");
        Assert.Contains("no CRL signed by", Refusal(otherPki.WriteCrl("other-ca.pem", [])), StringComparison.Ordinal);

        // Two lists in one file (one per CA): the newest of this CA's decides.
        var both = Path.Combine(Pki.Folder, "both.pem");
        File.WriteAllText(both, File.ReadAllText(otherPki.WriteCrl("a.pem", [])) + File.ReadAllText(Pki.WriteCrl("b.pem", [client.Certificate])));
        Assert.Contains("is revoked", Refusal(both), StringComparison.Ordinal);

        // Without lists, only the chain counts.
        Assert.Null(ListenerTls.Refusal(client.Certificate, roots, null, now));
        using var foreign = new TestCertificates("Foreign CA");
        Assert.Contains("not accepted by the client CA", ListenerTls.Refusal(foreign.Issue("CN=x", server: false, "x").Certificate, roots, null, now), StringComparison.Ordinal);
    }

    [Fact]
    public void Refusal_ChecksEveryCertificateBelowTheRoot_AnIntermediateIncluded()
    {
        // Root -> intermediate -> client, the intermediate in the client CA file as a CA would ship it.
        using var intermediate = Pki.IssueIntermediate("CN=Fabrik Test Intermediate", [0x11, 0x22, 0x33]);
        using var clientKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var clientRequest = new CertificateRequest("CN=deep-client", clientKey, HashAlgorithmName.SHA256);
        clientRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var client = clientRequest.Create(intermediate, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10), [0x44, 0x55, 0x66]);
        X509Certificate2Collection authorities = [Pki.Ca, intermediate];
        var now = DateTimeOffset.UtcNow;

        byte[] IntermediateCrl(params X509Certificate2[] revoked)
        {
            var builder = new CertificateRevocationListBuilder();
            foreach (var certificate in revoked)
            {
                builder.AddEntry(certificate);
            }
            return builder.Build(intermediate, 1, now.AddDays(7), HashAlgorithmName.SHA256, thisUpdate: now.AddMinutes(-10));
        }
        string? Refusal(params string[] pems)
        {
            var path = Path.Combine(Pki.Folder, $"chain-{Guid.NewGuid():N}.pem");
            File.WriteAllText(path, string.Concat(pems));
            return ListenerTls.Refusal(client, authorities, RevocationLists.Load(path), now);
        }
        string Pem(byte[] list) => new string(PemEncoding.Write("X509 CRL", list)) + "\n";
        string RootCrl(params X509Certificate2[] revoked) => File.ReadAllText(Pki.WriteCrl($"root-{Guid.NewGuid():N}.pem", revoked));

        Assert.Null(Refusal(RootCrl(), Pem(IntermediateCrl())));
        Assert.Contains("'CN=deep-client' (serial 445566) is revoked", Refusal(RootCrl(), Pem(IntermediateCrl(client))), StringComparison.Ordinal);
        Assert.Contains("'CN=Fabrik Test Intermediate' (serial 112233) is revoked", Refusal(RootCrl(intermediate), Pem(IntermediateCrl())), StringComparison.Ordinal);
        Assert.Contains("no CRL signed by 'CN=Fabrik Test Intermediate'", Refusal(RootCrl()), StringComparison.Ordinal);
        Assert.Contains("no CRL signed by 'CN=Fabrik Test CA'", Refusal(Pem(IntermediateCrl())), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--http-tls-client-crl", "--http-tls-client-ca")]
    [InlineData("--grpc-client-crl", "--grpc-use-ssl-mutual")]
    [InlineData("--metrics-tls-client-crl", "--metrics-tls-client-ca")]
    public void ACrlWithoutMutualTls_IsRefusedOnTheCommandLine(string flag, string needed)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => ServerOptions.Parse([flag, "clients.crl.pem"]));
        Assert.Contains(needed, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ACrlWithACriticalExtension_IsRefused()
    {
        // RFC 5280: a list carrying a critical extension the reader does not process must not be
        // used. A partitioned list (critical issuingDistributionPoint, 2.5.29.28), encoded by hand
        // with AsnWriter and signed with the CA's key.
        var tbs = new AsnWriter(AsnEncodingRules.DER);
        using (tbs.PushSequence())
        {
            tbs.WriteInteger(1); // v2
            using (tbs.PushSequence())
            {
                tbs.WriteObjectIdentifier("1.2.840.10045.4.3.2"); // ecdsa-with-SHA256
            }
            tbs.WriteEncodedValue(Pki.Ca.SubjectName.RawData);
            tbs.WriteUtcTime(DateTimeOffset.UtcNow.AddMinutes(-10));
            tbs.WriteUtcTime(DateTimeOffset.UtcNow.AddDays(7));
            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (tbs.PushSequence())
            using (tbs.PushSequence())
            {
                tbs.WriteObjectIdentifier("2.5.29.28");
                tbs.WriteBoolean(true);
                tbs.WriteOctetString([0x30, 0x00]);
            }
        }
        var signedPart = tbs.Encode();
        using var caKey = Pki.Ca.GetECDsaPrivateKey()!;
        var list = new AsnWriter(AsnEncodingRules.DER);
        using (list.PushSequence())
        {
            list.WriteEncodedValue(signedPart);
            using (list.PushSequence())
            {
                list.WriteObjectIdentifier("1.2.840.10045.4.3.2");
            }
            list.WriteBitString(caKey.SignData(signedPart, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        }
        var error = Assert.Throws<CryptographicException>(() => RevocationList.Parse(list.Encode(), 1));
        Assert.Contains("critical extension 2.5.29.28", error.Message, StringComparison.Ordinal);

        // A list as CertificateRevocationListBuilder writes it (its extensions are not critical) parses.
        var parsed = RevocationList.Parse(File.ReadAllBytes(Pki.WriteCrl("plain.crl", [], der: true)), 1);
        Assert.True(parsed.IsIssuedBy(Pki.Ca));
    }
}
