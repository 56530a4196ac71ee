using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit;

namespace Fabrik.Tests.Security;

/// <summary>
/// TLS and mutual TLS on real Kestrel listeners on loopback: certificates made in the test,
/// real handshakes, HTTP/1.1 and gRPC (HTTP/2 over ALPN) clients that trust only the test CA.
/// </summary>
public sealed class TlsTests : TlsServerTests
{
    [Fact]
    public async Task Https_InfersWithATrustedCertificate_AndRefusesCleartext()
    {
        var server = Pki.Issue("CN=fabrik-server", server: true, "server");
        await using var fabrik = await StartAsync("--http-tls-cert", server.CertificatePath, "--http-tls-key", server.KeyPath);
        Assert.Equal("https", fabrik.HttpAddress!.Scheme);

        using var client = new HttpClient(Pki.Handler()) { BaseAddress = fabrik.HttpAddress };
        await AssertSimpleInfersAsync(client);

        // Cleartext HTTP to the TLS port gets no HTTP answer.
        using var plain = new HttpClient { BaseAddress = new Uri($"http://{fabrik.HttpAddress.Authority}/") };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync("/v2/health/ready"));

        // TLS 1.2 or later, and a client that trusts another CA refuses the server.
        var (protocol, _) = await Pki.HandshakeAsync(fabrik.HttpAddress, SslApplicationProtocol.Http11);
        Assert.True(protocol is SslProtocols.Tls12 or SslProtocols.Tls13, $"negotiated {protocol}");
        using var otherPki = new TestCertificates("Another CA");
        using var distrusting = new HttpClient(otherPki.Handler()) { BaseAddress = fabrik.HttpAddress };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => distrusting.GetAsync("/v2/health/ready"));
    }

    [Fact]
    public async Task Metrics_OverTlsWithTheMetricsScope_Scrapes_AndRefusesCleartextAndOtherScopes()
    {
        var server = Pki.Issue("CN=fabrik-server", server: true, "server");
        var keys = Path.Combine(Repository.Path, "..", $"metrics-keys-{Guid.NewGuid():N}.json");
        File.WriteAllText(keys, AuthTests.KeyFile(("scraper", "scrape-5f1e", ["metrics"]), ("ci", "ci-77a0", ["infer:*"])));
        try
        {
            await using var fabrik = await StartAsync("--metrics-tls-cert", server.CertificatePath, "--metrics-tls-key", server.KeyPath, "--auth-keys", keys);
            Assert.Equal("https", fabrik.MetricsAddress!.Scheme);

            using var scraper = new HttpClient(Pki.Handler()) { BaseAddress = fabrik.MetricsAddress };
            scraper.DefaultRequestHeaders.Authorization = new("Bearer", "scrape-5f1e");
            var text = await scraper.GetStringAsync("/metrics");
            Assert.Contains("nv_inference_request_success", text, StringComparison.Ordinal);

            using var anonymous = new HttpClient(Pki.Handler()) { BaseAddress = fabrik.MetricsAddress };
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics")).StatusCode);
            anonymous.DefaultRequestHeaders.Authorization = new("Bearer", "ci-77a0");
            Assert.Equal(System.Net.HttpStatusCode.Forbidden, (await anonymous.GetAsync("/metrics")).StatusCode);

            using var plain = new HttpClient { BaseAddress = new Uri($"http://{fabrik.MetricsAddress.Authority}/") };
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync("/metrics"));
        }
        finally
        {
            File.Delete(keys);
        }
    }

    [Fact]
    public async Task Https_RefusesTls11()
    {
        var server = Pki.Issue("CN=fabrik-server", server: true, "server");
        await using var fabrik = await StartAsync("--http-tls-cert", server.CertificatePath, "--http-tls-key", server.KeyPath);
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(fabrik.HttpAddress!.Host, fabrik.HttpAddress.Port);
        await using var tls = new SslStream(tcp.GetStream());
#pragma warning disable SYSLIB0039 // TLS 1.1 is asked for on purpose: the server must refuse it.
        var options = new SslClientAuthenticationOptions { TargetHost = "localhost", EnabledSslProtocols = SslProtocols.Tls11, RemoteCertificateValidationCallback = (_, _, _, _) => true };
#pragma warning restore SYSLIB0039
        await Assert.ThrowsAnyAsync<Exception>(() => tls.AuthenticateAsClientAsync(options));
    }

    [Fact]
    public async Task Grpc_OverTls_NegotiatesH2AndInfers_AndRefusesCleartext()
    {
        var server = Pki.Issue("CN=fabrik-server", server: true, "server");
        await using var fabrik = await StartAsync("--grpc-use-ssl=true", "--grpc-server-cert", server.CertificatePath, "--grpc-server-key", server.KeyPath);
        Assert.Equal("https", fabrik.GrpcAddress!.Scheme);

        var (_, alpn) = await Pki.HandshakeAsync(fabrik.GrpcAddress, SslApplicationProtocol.Http2);
        Assert.Equal(SslApplicationProtocol.Http2, alpn);

        using var channel = GrpcChannel.ForAddress(fabrik.GrpcAddress, new GrpcChannelOptions { HttpHandler = Pki.Handler() });
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        await AssertSimpleInfersAsync(grpc);

        using var plain = GrpcChannel.ForAddress(new Uri($"http://{fabrik.GrpcAddress.Authority}/"));
        var error = await Assert.ThrowsAsync<RpcException>(() => new GRPCInferenceService.GRPCInferenceServiceClient(plain).ServerLiveAsync(new ServerLiveRequest()).ResponseAsync);
        // The TLS listener answers cleartext HTTP/2 with a TLS alert and closes: the client sees the
        // connection fail (Unavailable) or, when it reads the alert first, bytes that are not HTTP/2
        // (Internal). Either way no call reaches the service.
        Assert.True(error.StatusCode is StatusCode.Unavailable or StatusCode.Internal, $"got {error.StatusCode}: {error.Status.Detail}");
    }

    [Fact]
    public async Task MutualTls_RefusesAClientWithoutACertificateOrWithAForeignOne_AndServesOneFromTheCa()
    {
        var server = Pki.Issue("CN=fabrik-server", server: true, "server");
        var client = Pki.Issue("CN=ci-client", server: false, "client");
        using var foreignPki = new TestCertificates("Foreign CA");
        var foreign = foreignPki.Issue("CN=intruder", server: false, "intruder");
        await using var fabrik = await StartAsync(
            "--http-tls-cert", server.CertificatePath, "--http-tls-key", server.KeyPath, "--http-tls-client-ca", Pki.CaPath,
            "--grpc-use-ssl=true", "--grpc-server-cert", server.CertificatePath, "--grpc-server-key", server.KeyPath,
            "--grpc-root-cert", Pki.CaPath, "--grpc-use-ssl-mutual=true");

        using (var anonymous = new HttpClient(Pki.Handler()) { BaseAddress = fabrik.HttpAddress })
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => anonymous.GetAsync("/v2/health/ready"));
        }
        using (var intruder = new HttpClient(Pki.Handler(foreign.Certificate)) { BaseAddress = fabrik.HttpAddress })
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => intruder.GetAsync("/v2/health/ready"));
        }
        using (var trusted = new HttpClient(Pki.Handler(client.Certificate)) { BaseAddress = fabrik.HttpAddress })
        {
            await AssertSimpleInfersAsync(trusted);
        }

        using (var anonymousChannel = GrpcChannel.ForAddress(fabrik.GrpcAddress!, new GrpcChannelOptions { HttpHandler = Pki.Handler() }))
        {
            await Assert.ThrowsAsync<RpcException>(() => new GRPCInferenceService.GRPCInferenceServiceClient(anonymousChannel).ServerLiveAsync(new ServerLiveRequest()).ResponseAsync);
        }
        using var channel = GrpcChannel.ForAddress(fabrik.GrpcAddress!, new GrpcChannelOptions { HttpHandler = Pki.Handler(client.Certificate) });
        await AssertSimpleInfersAsync(new GRPCInferenceService.GRPCInferenceServiceClient(channel));
    }

    [Fact]
    public async Task CertificateRotation_NewHandshakesGetTheNewCertificate_AndNoRequestFails()
    {
        var first = Pki.Issue("CN=fabrik-server", server: true, "server");
        await using var fabrik = await StartAsync("--http-tls-cert", first.CertificatePath, "--http-tls-key", first.KeyPath);

        // Requests flow on fresh connections (one handshake each) while the files are replaced.
        using var stop = new CancellationTokenSource();
        var failures = 0;
        var served = 0;
        var traffic = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested || Volatile.Read(ref served) < 20)
            {
                using var client = new HttpClient(Pki.Handler()) { BaseAddress = fabrik.HttpAddress };
                try
                {
                    await AssertSimpleInfersAsync(client);
                    Interlocked.Increment(ref served);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failures);
                    throw;
                }
            }
        })).ToArray();

        await Eventually.UntilAsync(() => Volatile.Read(ref served) >= 5, "5 requests served before the rotation");
        // Write the new pair beside the old and move it into place (as cert-manager swaps files);
        // the key first, then the certificate, so a handshake in between sees a mismatched pair
        // and keeps the previous certificate.
        var second = Pki.Issue("CN=fabrik-server-rotated", server: true, "rotated");
        // rename(2) replaces the file in one step: copying over it in place races with the
        // server reading it (.NET's advisory lock refuses the copy while a read holds the file).
        File.Copy(second.KeyPath, first.KeyPath + ".new");
        File.Move(first.KeyPath + ".new", first.KeyPath, overwrite: true);
        File.Copy(second.CertificatePath, first.CertificatePath + ".new");
        File.Move(first.CertificatePath + ".new", first.CertificatePath, overwrite: true);
        var servedAtRotation = Volatile.Read(ref served);
        await Eventually.UntilAsync(() => Volatile.Read(ref served) >= servedAtRotation + 10, "10 requests served after the rotation");
        stop.Cancel();
        await Task.WhenAll(traffic);
        Assert.Equal(0, failures);

        Assert.Equal(second.Certificate.Thumbprint, (await PresentedCertificateAsync(fabrik.HttpAddress!)).Thumbprint);
    }

    [Fact]
    public async Task CertificateRotation_InAKubernetesSecretVolume_IsSeen()
    {
        // A Secret volume as the kubelet writes it: tls.crt -> ..data/tls.crt, ..data -> a
        // timestamped folder, and an update swaps ..data to a new folder in one rename. The
        // files the flags name are symbolic links whose own times never change.
        var volume = Directory.CreateDirectory(Path.Combine(Pki.Folder, "secret-volume")).FullName;
        void Publish((X509Certificate2 Certificate, string CertificatePath, string KeyPath) pair, string generation)
        {
            var folder = Directory.CreateDirectory(Path.Combine(volume, "..2026_" + generation)).FullName;
            File.Copy(pair.CertificatePath, Path.Combine(folder, "tls.crt"));
            File.Copy(pair.KeyPath, Path.Combine(folder, "tls.key"));
            var staging = Path.Combine(volume, "..data_tmp");
            File.CreateSymbolicLink(staging, Path.GetFileName(folder));
            // rename(2) over the old link, as the kubelet does (File.Move wants a file, not a link to a folder).
            using var rename = System.Diagnostics.Process.Start("mv", ["-T", staging, Path.Combine(volume, "..data")]);
            rename.WaitForExit();
            Assert.Equal(0, rename.ExitCode);
        }
        Publish(Pki.Issue("CN=fabrik-server", server: true, "server"), "1");
        File.CreateSymbolicLink(Path.Combine(volume, "tls.crt"), Path.Combine("..data", "tls.crt"));
        File.CreateSymbolicLink(Path.Combine(volume, "tls.key"), Path.Combine("..data", "tls.key"));
        await using var fabrik = await StartAsync("--http-tls-cert", Path.Combine(volume, "tls.crt"), "--http-tls-key", Path.Combine(volume, "tls.key"));
        using (var before = new HttpClient(Pki.Handler()) { BaseAddress = fabrik.HttpAddress })
        {
            await AssertSimpleInfersAsync(before);
        }

        var rotated = Pki.Issue("CN=fabrik-server-rotated", server: true, "rotated");
        Publish(rotated, "2");
        Assert.Equal(rotated.Certificate.Thumbprint, (await PresentedCertificateAsync(fabrik.HttpAddress!)).Thumbprint);
    }

    [Fact]
    public async Task Https_SendsTheIntermediatesOfTheCertificateFile()
    {
        // A site PKI or cert-manager issues from an intermediate and writes tls.crt as the leaf
        // followed by the intermediate. A client that trusts only the root needs the server to
        // send the intermediate: nothing may be downloaded, and no store holds it.
        using var intermediate = Pki.IssueIntermediate("CN=Fabrik Test Issuing CA", RandomNumberGenerator.GetBytes(8));
        var leaf = Pki.Issue("CN=fabrik-behind-an-intermediate", server: true, "chain", issuer: intermediate);
        // The certificate file as such a CA ships it: the leaf, then the intermediate.
        var certificatePath = leaf.CertificatePath;
        File.AppendAllText(certificatePath, "\n" + intermediate.ExportCertificatePem() + "\n");
        var keyPath = leaf.KeyPath;
        await using var fabrik = await StartAsync("--http-tls-cert", certificatePath, "--http-tls-key", keyPath);

        string[]? sent = null;
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, offered, _) =>
        {
            sent = [.. offered!.ChainPolicy.ExtraStore.Select(extra => extra.Subject)];
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(Pki.Ca);
            chain.ChainPolicy.ExtraStore.AddRange(offered.ChainPolicy.ExtraStore);
            chain.ChainPolicy.DisableCertificateDownloads = true;
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(X509CertificateLoader.LoadCertificate(certificate!.GetRawCertData()));
        };
        using var client = new HttpClient(handler) { BaseAddress = fabrik.HttpAddress };
        await AssertSimpleInfersAsync(client);
        Assert.Contains("CN=Fabrik Test Issuing CA", sent!);
    }

    [Fact]
    public async Task MutualTls_TheClientCertificateSubjectMapsToScopes()
    {
        var server = Pki.Issue("CN=fabrik-server", server: true, "server");
        var client = Pki.Issue("CN=ci-client, O=Site", server: false, "client");
        var keys = Path.Combine(Pki.Folder, "keys.json");
        File.WriteAllText(keys, """{"keys": [{"id": "site-ci", "subject": "CN=ci-client, O=Site", "scopes": ["metadata"]}]}""");
        await using var fabrik = await StartAsync(
            "--http-tls-cert", server.CertificatePath, "--http-tls-key", server.KeyPath, "--http-tls-client-ca", Pki.CaPath, "--auth-keys", keys);
        using var http = new HttpClient(Pki.Handler(client.Certificate)) { BaseAddress = fabrik.HttpAddress };
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/v2")).StatusCode);
        var body = new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() };
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, (await http.PostAsJsonAsync("/v2/models/simple/infer", body)).StatusCode);
    }

    [Fact]
    public async Task LoadGenerator_MeasuresOverTlsWithAnApiKey()
    {
        var server = Pki.Issue("CN=fabrik-server", server: true, "server");
        var keys = Path.Combine(Pki.Folder, "keys.json");
        File.WriteAllText(keys, AuthTests.KeyFile(("load", "load-key-1", ["infer:*", "metadata", "stats"])));
        await using var fabrik = await StartAsync("--http-tls-cert", server.CertificatePath, "--http-tls-key", server.KeyPath, "--auth-keys", keys);
        var options = Fabrik.Testing.Load.LoadOptions.Parse(["-m", "simple", "-u", fabrik.HttpAddress!.ToString(), "--ssl-https-ca-certificates-file", Pki.CaPath,
            "-H", "Authorization: Bearer load-key-1", "--concurrency-range", "2:2:1", "-p", "150", "-r", "3"]);
        var results = await new Fabrik.Testing.Load.LoadGenerator(options, TextWriter.Null).RunAsync(default);
        var result = Assert.Single(results);
        Assert.Equal(0, result.Errors);
        Assert.True(result.InferencesPerSecond > 0);
    }

    [Fact]
    public async Task BadCertificateFiles_FailStartUpNamingTheFile()
    {
        var missing = Path.Combine(Pki.Folder, "missing.pem");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync("--http-tls-cert", missing, "--http-tls-key", missing));
        Assert.Contains("missing.pem", error.Message);

        // A client certificate given as the server's: refused at start, not at each handshake.
        var client = Pki.Issue("CN=not-a-server", server: false, "client-only");
        error = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync("--http-tls-cert", client.CertificatePath, "--http-tls-key", client.KeyPath));
        Assert.Contains("client-only.crt.pem", error.Message);
        Assert.Contains("not for server authentication", error.Message);
    }

    [Theory]
    [InlineData("--http-tls-cert=a.pem")]
    [InlineData("--grpc-use-ssl=true")]
    [InlineData("--grpc-use-ssl-mutual=true")]
    [InlineData("--http-tls-client-ca=ca.pem")]
    public void IncompleteTlsFlags_AreRefusedNamingWhatIsMissing(string flag)
    {
        var error = Assert.Throws<ArgumentException>(() => ServerOptions.Parse([flag]));
        Assert.Contains("--", error.Message);
    }

    /// <summary>The certificate the server presents to a new client, which infers through it.</summary>
    private async Task<X509Certificate2> PresentedCertificateAsync(Uri address)
    {
        X509Certificate2? seen = null;
        using var client = new HttpClient(Pki.Handler(sawServer: certificate => seen = certificate)) { BaseAddress = address };
        await AssertSimpleInfersAsync(client);
        return seen!;
    }

    internal static async Task AssertSimpleInfersAsync(HttpClient client)
    {
        var sample = Samples.Sample("simple", 0);
        var body = new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() };
        using var response = await client.PostAsJsonAsync("/v2/models/simple/infer", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        var output = JsonNode.Parse(text)!["outputs"]!.AsArray().Single(o => (string?)o!["name"] == "OUTPUT0")!;
        var expected = sample["outputs"]!.AsArray().Single(o => (string?)o!["name"] == "OUTPUT0")!;
        Assert.Equal(expected["data"]!.ToJsonString(), output["data"]!.ToJsonString());
    }

    internal static async Task AssertSimpleInfersAsync(GRPCInferenceService.GRPCInferenceServiceClient grpc)
    {
        var sample = Samples.Sample("simple", 0);
        var request = new ModelInferRequest { ModelName = "simple" };
        foreach (var input in sample["inputs"]!.AsArray())
        {
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = (string)input!["name"]!, Datatype = "INT32", Contents = new InferTensorContents() };
            tensor.Shape.AddRange([1, 16]);
            tensor.Contents.IntContents.AddRange(input["data"]!.AsArray().Select(v => (int)v!));
            request.Inputs.Add(tensor);
        }
        var response = await grpc.ModelInferAsync(request);
        var index = response.Outputs.Select(o => o.Name).ToList().IndexOf("OUTPUT0");
        var expected = sample["outputs"]!.AsArray().Single(o => (string?)o!["name"] == "OUTPUT0")!["data"]!.AsArray().Select(v => (int)v!).ToArray();
        var raw = response.RawOutputContents[index].Span;
        var actual = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(raw).ToArray();
        Assert.Equal(expected, actual);
    }
}
