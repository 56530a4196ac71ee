using System.Buffers.Binary;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Protocol.Triton;
using Google.Protobuf;
using Grpc.Net.Client;

namespace Fabrik.Testing.Load;

/// <summary>Server-side cumulative counters for one model (from the statistics extension).</summary>
public sealed record ServerCounters(long Success, long QueueNs, long InputNs, long InferNs, long OutputNs);

/// <summary>Sends one prepared inference request again and again over one protocol.</summary>
public interface IInferenceClient : IDisposable
{
    /// <summary>Sends the request; throws when the server does not answer it successfully.</summary>
    Task InferAsync(CancellationToken cancellation);

    Task<ServerCounters> CountersAsync(CancellationToken cancellation);
}

/// <summary>Builds clients and their payloads from the model's metadata: <see cref="FabrikClientLoad"/>
/// by default, or with <c>--client own</c> the generator's own minimal clients below (a prepared
/// HTTP body sent as it is, a prepared gRPC message), which read the answer's bytes without
/// parsing them. Payload values are deterministic; BYTES elements are decimal numbers, so text
/// models accept them too.</summary>
public static class InferenceClients
{
    public static async Task<IInferenceClient> CreateAsync(LoadOptions options, CancellationToken cancellation)
    {
        var baseAddress = new Uri(options.Url.Contains("://", StringComparison.Ordinal) ? options.Url : "http://" + options.Url);
        if (options.Client == LoadClient.FabrikClient)
        {
            return await FabrikClientLoad.CreateAsync(options, baseAddress, cancellation);
        }
        var handler = Handler(options);
        if (options.Protocol == LoadProtocol.Grpc)
        {
            var channel = GrpcChannel.ForAddress(baseAddress, new GrpcChannelOptions { HttpHandler = handler });
            var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
            var metadata = await grpc.ModelMetadataAsync(new ModelMetadataRequest { Name = options.Model }, cancellationToken: cancellation);
            var tensors = metadata.Inputs.Select(input => Tensor(input.Name, input.Datatype, input.Shape, options.BatchSize)).ToList();
            return new GrpcClient(channel, grpc, options.Model, tensors);
        }
        var http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
        var json = JsonNode.Parse(await http.GetStringAsync($"/v2/models/{options.Model}", cancellation))!;
        var inputs = json["inputs"]!.AsArray().Select(input =>
            Tensor((string)input!["name"]!, (string)input["datatype"]!, input["shape"]!.AsArray().Select(d => (long)d!), options.BatchSize)).ToList();
        return new HttpClientLoad(http, options.Model, inputs, binary: options.Protocol == LoadProtocol.HttpBinary);
    }

    /// <summary>The request bodies a client sends for <paramref name="model"/>, for clients outside
    /// .NET (wrk, h2load): the HTTP body (JSON, or the binary extension's header and tensors with
    /// the header's length), and the gRPC ModelInfer request as one length-prefixed gRPC message.</summary>
    public static async Task<(byte[] Body, int HeaderLength)> HttpBodyAsync(Uri baseAddress, string model, int batchSize, bool binary, CancellationToken cancellation)
    {
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
        var json = JsonNode.Parse(await http.GetStringAsync($"/v2/models/{model}", cancellation))!;
        var inputs = json["inputs"]!.AsArray().Select(input =>
            Tensor((string)input!["name"]!, (string)input["datatype"]!, input["shape"]!.AsArray().Select(d => (long)d!), batchSize)).ToList();
        return HttpClientLoad.Body(inputs, binary);
    }

    /// <inheritdoc cref="HttpBodyAsync"/>
    public static async Task<byte[]> GrpcMessageAsync(Uri grpcAddress, string model, int batchSize, CancellationToken cancellation)
    {
        using var channel = GrpcChannel.ForAddress(grpcAddress);
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var metadata = await grpc.ModelMetadataAsync(new ModelMetadataRequest { Name = model }, cancellationToken: cancellation);
        var request = GrpcClient.Request(model, metadata.Inputs.Select(input => Tensor(input.Name, input.Datatype, input.Shape, batchSize)).ToList());
        var message = new byte[5 + request.CalculateSize()];
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(1), (uint)(message.Length - 5)); // flag 0: not compressed
        request.WriteTo(message.AsSpan(5));
        return message;
    }

    /// <summary>The connection handler: trusts the given CA for https, adds the -H headers.</summary>
    internal static HttpMessageHandler Handler(LoadOptions options)
    {
        var sockets = new SocketsHttpHandler();
        if (options.TlsCaFile is { } caFile)
        {
            var ca = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(caFile);
            sockets.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                if (certificate is null)
                {
                    return false;
                }
                using var chain = new System.Security.Cryptography.X509Certificates.X509Chain();
                chain.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
                return chain.Build(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
            };
        }
        return options.Headers.Count == 0 ? sockets : new HeaderHandler(sockets, options.Headers);
    }

    /// <summary>Adds fixed headers to every request (HTTP/1.1 and gRPC alike).</summary>
    private sealed class HeaderHandler(HttpMessageHandler inner, IReadOnlyList<(string Name, string Value)> headers) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            foreach (var (name, value) in headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>A payload tensor: name, datatype, shape (the batch and variable dims filled in),
    /// the values as JSON text and as raw little-endian bytes.</summary>
    public sealed record PayloadTensor(string Name, string Datatype, long[] Shape, string JsonData, byte[] Raw);

    internal static PayloadTensor Tensor(string name, string datatype, IEnumerable<long> metadataShape, int batchSize)
    {
        var dims = metadataShape.ToArray();
        var shape = dims.Select((d, i) => d >= 0 ? d : i == 0 ? batchSize : 1).ToArray();
        var count = (int)shape.Aggregate(1L, (a, b) => a * b);
        var json = new StringBuilder();
        var raw = new MemoryStream();
        Span<byte> scratch = stackalloc byte[8];
        for (var i = 0; i < count; i++)
        {
            var value = (i * 37 + 11) % 100;
            if (i > 0)
            {
                json.Append(',');
            }
            switch (datatype)
            {
                case "BOOL":
                    json.Append(value % 2 == 0 ? "true" : "false");
                    raw.WriteByte((byte)(value % 2 == 0 ? 1 : 0));
                    break;
                case "BYTES":
                    var text = value.ToString(CultureInfo.InvariantCulture);
                    json.Append('"').Append(text).Append('"');
                    BinaryPrimitives.WriteInt32LittleEndian(scratch, text.Length);
                    raw.Write(scratch[..4]);
                    raw.Write(Encoding.ASCII.GetBytes(text));
                    break;
                case "FP32":
                    json.Append((value / 100f).ToString("R", CultureInfo.InvariantCulture));
                    BinaryPrimitives.WriteSingleLittleEndian(scratch, value / 100f);
                    raw.Write(scratch[..4]);
                    break;
                case "FP64":
                    json.Append((value / 100.0).ToString("R", CultureInfo.InvariantCulture));
                    BinaryPrimitives.WriteDoubleLittleEndian(scratch, value / 100.0);
                    raw.Write(scratch);
                    break;
                case "FP16":
                    json.Append((value / 100.0).ToString("R", CultureInfo.InvariantCulture));
                    BinaryPrimitives.WriteHalfLittleEndian(scratch, (Half)(value / 100.0));
                    raw.Write(scratch[..2]);
                    break;
                default:
                    // Integer types: small non-negative values fit all of them.
                    json.Append(value);
                    var size = datatype switch { "INT8" or "UINT8" => 1, "INT16" or "UINT16" => 2, "INT64" or "UINT64" => 8, "BF16" => 2, _ => 4 };
                    BinaryPrimitives.WriteInt64LittleEndian(scratch, value);
                    raw.Write(scratch[..size]);
                    break;
            }
        }
        return new PayloadTensor(name, datatype, shape, json.ToString(), raw.ToArray());
    }

    private sealed class HttpClientLoad : IInferenceClient
    {
        private readonly HttpClient _http;
        private readonly string _model;
        private readonly byte[] _body;
        private readonly int _headerLength;
        private readonly bool _binary;

        public HttpClientLoad(HttpClient http, string model, List<PayloadTensor> inputs, bool binary)
        {
            _http = http;
            _model = model;
            _binary = binary;
            (_body, _headerLength) = Body(inputs, binary);
        }

        public static (byte[] Body, int HeaderLength) Body(List<PayloadTensor> inputs, bool binary)
        {
            var tensors = string.Join(",", inputs.Select(input =>
                $"{{\"name\":\"{input.Name}\",\"datatype\":\"{input.Datatype}\",\"shape\":[{string.Join(",", input.Shape)}],"
                + (binary ? $"\"parameters\":{{\"binary_data_size\":{input.Raw.Length}}}}}" : $"\"data\":[{input.JsonData}]}}")));
            var header = Encoding.UTF8.GetBytes($"{{\"inputs\":[{tensors}]{(binary ? ",\"parameters\":{\"binary_data_output\":true}" : "")}}}");
            return (binary ? [.. header, .. inputs.SelectMany(input => input.Raw)] : header, header.Length);
        }

        public async Task InferAsync(CancellationToken cancellation)
        {
            using var content = new ByteArrayContent(_body);
            content.Headers.ContentType = new MediaTypeHeaderValue(_binary ? "application/octet-stream" : "application/json");
            if (_binary)
            {
                content.Headers.Add("Inference-Header-Content-Length", _headerLength.ToString(CultureInfo.InvariantCulture));
            }
            using var response = await _http.PostAsync($"/v2/models/{_model}/infer", content, cancellation);
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellation);
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"{(int)response.StatusCode}: {Encoding.UTF8.GetString(bytes)}");
            }
        }

        public async Task<ServerCounters> CountersAsync(CancellationToken cancellation)
        {
            // Servers without the statistics extension (the comparison peers) report zeros.
            using var response = await _http.GetAsync($"/v2/models/{_model}/stats", cancellation);
            if (!response.IsSuccessStatusCode)
            {
                return new ServerCounters(0, 0, 0, 0, 0);
            }
            var stats = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellation))!["model_stats"]!.AsArray();
            long Sum(string phase, string field) => stats.Sum(s => (long)s!["inference_stats"]![phase]![field]!);
            return new ServerCounters(Sum("success", "count"), Sum("queue", "ns"), Sum("compute_input", "ns"), Sum("compute_infer", "ns"), Sum("compute_output", "ns"));
        }

        public void Dispose() => _http.Dispose();
    }

    private sealed class GrpcClient : IInferenceClient
    {
        private readonly GrpcChannel _channel;
        private readonly GRPCInferenceService.GRPCInferenceServiceClient _grpc;
        private readonly string _model;
        private readonly ModelInferRequest _request;

        public GrpcClient(GrpcChannel channel, GRPCInferenceService.GRPCInferenceServiceClient grpc, string model, List<PayloadTensor> inputs)
        {
            _channel = channel;
            _grpc = grpc;
            _model = model;
            _request = Request(model, inputs);
        }

        public static ModelInferRequest Request(string model, List<PayloadTensor> inputs)
        {
            var request = new ModelInferRequest { ModelName = model };
            foreach (var input in inputs)
            {
                var tensor = new ModelInferRequest.Types.InferInputTensor { Name = input.Name, Datatype = input.Datatype };
                tensor.Shape.AddRange(input.Shape);
                request.Inputs.Add(tensor);
                request.RawInputContents.Add(ByteString.CopyFrom(input.Raw));
            }
            return request;
        }

        public async Task InferAsync(CancellationToken cancellation) =>
            await _grpc.ModelInferAsync(_request, cancellationToken: cancellation);

        public async Task<ServerCounters> CountersAsync(CancellationToken cancellation)
        {
            var stats = (await _grpc.ModelStatisticsAsync(new ModelStatisticsRequest { Name = _model }, cancellationToken: cancellation)).ModelStats;
            long Sum(Func<InferStatistics, ulong> field) => stats.Sum(s => (long)field(s.InferenceStats));
            return new ServerCounters(Sum(s => s.Success.Count), Sum(s => s.Queue.Ns), Sum(s => s.ComputeInput.Ns), Sum(s => s.ComputeInfer.Ns), Sum(s => s.ComputeOutput.Ns));
        }

        public void Dispose() => _channel.Dispose();
    }
}
