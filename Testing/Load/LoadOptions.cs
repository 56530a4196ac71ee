using System.Globalization;

namespace Fabrik.Testing.Load;

/// <summary>How the request payload travels: v2 JSON, the binary tensor extension, or gRPC.</summary>
public enum LoadProtocol
{
    HttpJson,
    HttpBinary,
    Grpc,
}

/// <summary>
/// The load generator's settings, with perf_analyzer's flag names where it has them:
/// <c>-m</c>, <c>-u</c>, <c>-i http|grpc</c>, <c>-b</c>, <c>--concurrency-range start:end:step</c>,
/// <c>--request-rate-range start:end:step</c>, <c>-p/--measurement-interval</c> (ms),
/// <c>-s/--stability-percentage</c>, <c>-r/--max-trials</c>, <c>-f</c> (CSV; a .json and an .svg are
/// written beside it). <c>--http-format json|binary</c> picks the HTTP encoding (perf_analyzer
/// always sends binary; JSON is what most HTTP clients send). <c>--client own|fabrik</c> picks the
/// client library: the generator's own minimal clients by default, because Fabrik.Client costs the
/// generator throughput on a shared host (Benchmarks/client-cost.sh); Fabrik.Client with
/// <c>--shared-memory system|cuda</c>.
/// </summary>
public sealed record LoadOptions
{
    public string Model { get; init; } = "";

    public string Url { get; init; } = "localhost:8000";

    public LoadProtocol Protocol { get; init; } = LoadProtocol.HttpBinary;

    /// <summary>--client own|fabrik: the generator's own minimal clients (the default) or Fabrik.Client.</summary>
    public LoadClient Client { get; init; } = LoadClient.Own;

    /// <summary>--shared-memory none|system|cuda (perf_analyzer's flag): the inputs are placed once
    /// in a region that every request names, instead of travelling in each request. The server must
    /// run on this host with --allow-shared-memory=true (and, for cuda, see CUDA device 0).</summary>
    public LoadSharedMemory SharedMemory { get; init; }

    public int BatchSize { get; init; } = 1;

    public (int Start, int End, int Step) ConcurrencyRange { get; init; } = (1, 1, 1);

    public (int Start, int End, int Step)? RequestRateRange { get; init; }

    public int MeasurementIntervalMilliseconds { get; init; } = 5000;

    public double StabilityPercentage { get; init; } = 10;

    public int MaxTrials { get; init; } = 10;

    public string? ResultsCsv { get; init; }

    /// <summary>-H "Name: value" (repeatable, as perf_analyzer): headers sent with every request
    /// (HTTP headers, gRPC metadata), e.g. an API key.</summary>
    public IReadOnlyList<(string Name, string Value)> Headers { get; init; } = [];

    /// <summary>--ssl-https-ca-certificates-file / --ssl-grpc-root-certifications-file (perf_analyzer's
    /// names): the CA that https URLs' certificates must chain to.</summary>
    public string? TlsCaFile { get; init; }

    public const string Usage = """
        Usage: dotnet run -c Release --project Benchmarks -- load -m MODEL [options]
          -m MODEL                       model to load (required)
          -u HOST:PORT                   server (default localhost:8000; use the gRPC port with -i grpc)
          -i http|grpc                   protocol (default http)
          --http-format binary|json      HTTP payload (default binary, as perf_analyzer)
          --client own|fabrik            send through the generator's own minimal clients (default) or Fabrik.Client
          --shared-memory none|system|cuda  inputs placed once in a region that requests name: a /dev/shm object
                                         (system) or device memory on CUDA device 0 (cuda); a server on this host
                                         with --allow-shared-memory=true; through Fabrik.Client
          -b N                           batch size per request (default 1)
          --concurrency-range S:E:T      sweep of concurrent requests (default 1:1:1)
          --request-rate-range S:E:T     sweep of requests per second instead of concurrency
          -p, --measurement-interval MS  window length (default 5000)
          -s, --stability-percentage P   windows agree within P% (default 10)
          -r, --max-trials N             windows per step before giving up on stability (default 10)
          -f FILE.csv                    results; FILE.json and FILE.svg are written beside it
          -H "NAME: VALUE"               header on every request (e.g. "Authorization: Bearer KEY"); repeatable
          --ssl-https-ca-certificates-file PEM   with an https:// URL, trust this CA (also --ssl-grpc-root-certifications-file)
        """;

    public static LoadOptions Parse(IReadOnlyList<string> args)
    {
        var options = new LoadOptions();
        var httpFormat = "binary";
        var protocol = "http";
        var clientChosen = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{arg} needs a value");
            options = arg switch
            {
                "-m" or "--model-name" => options with { Model = Value() },
                "-u" or "--url" => options with { Url = Value() },
                "-i" or "--protocol" => Set(ref protocol, Value(), options),
                "--http-format" => Set(ref httpFormat, Value(), options),
                "--client" => ChooseClient(ref clientChosen, Value(), options),
                "--shared-memory" => options with { SharedMemory = Value().ToLowerInvariant() switch
                {
                    "none" => LoadSharedMemory.None,
                    "system" => LoadSharedMemory.System,
                    "cuda" => LoadSharedMemory.Cuda,
                    var other => throw new ArgumentException($"--shared-memory takes none, system or cuda, got '{other}'"),
                } },
                "-b" or "--batch-size" => options with { BatchSize = Integer(arg, Value(), 1) },
                "--concurrency-range" => options with { ConcurrencyRange = Range(arg, Value()) },
                "--request-rate-range" => options with { RequestRateRange = Range(arg, Value()) },
                "-p" or "--measurement-interval" => options with { MeasurementIntervalMilliseconds = Integer(arg, Value(), 50) },
                "-s" or "--stability-percentage" => options with { StabilityPercentage = Integer(arg, Value(), 1) },
                "-r" or "--max-trials" => options with { MaxTrials = Integer(arg, Value(), 3) },
                "-f" or "--latency-report-file" => options with { ResultsCsv = Value() },
                "-H" => options with { Headers = [.. options.Headers, Header(Value())] },
                "--ssl-https-ca-certificates-file" or "--ssl-grpc-root-certifications-file" => options with { TlsCaFile = Value() },
                _ => throw new ArgumentException($"unknown option '{arg}'"),
            };
        }
        if (options.Model.Length == 0)
        {
            throw new ArgumentException("-m MODEL is required");
        }
        if (options.SharedMemory != LoadSharedMemory.None && clientChosen && options.Client == LoadClient.Own)
        {
            throw new ArgumentException("--shared-memory sends through Fabrik.Client: it cannot go with --client own");
        }
        if (options.SharedMemory != LoadSharedMemory.None)
        {
            options = options with { Client = LoadClient.FabrikClient };
        }
        return options with
        {
            Protocol = (protocol, httpFormat) switch
            {
                ("grpc", _) => LoadProtocol.Grpc,
                ("http", "json") => LoadProtocol.HttpJson,
                ("http", "binary") => LoadProtocol.HttpBinary,
                _ => throw new ArgumentException($"-i takes http or grpc and --http-format json or binary, got '{protocol}' and '{httpFormat}'"),
            },
        };
    }

    private static (string, string) Header(string text)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 ? (text[..colon].Trim(), text[(colon + 1)..].Trim()) : throw new ArgumentException($"-H takes \"NAME: VALUE\", got '{text}'");
    }

    private static LoadOptions ChooseClient(ref bool chosen, string value, LoadOptions options)
    {
        chosen = true;
        return options with
        {
            Client = value.ToLowerInvariant() switch
            {
                "fabrik" => LoadClient.FabrikClient,
                "own" => LoadClient.Own,
                var other => throw new ArgumentException($"--client takes own or fabrik, got '{other}'"),
            },
        };
    }

    private static LoadOptions Set(ref string target, string value, LoadOptions options)
    {
        target = value.ToLowerInvariant();
        return options;
    }

    private static int Integer(string name, string text, int minimum) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= minimum
            ? value
            : throw new ArgumentException($"{name} takes an integer of at least {minimum}, got '{text}'");

    private static (int, int, int) Range(string name, string text)
    {
        var parts = text.Split(':');
        var start = Integer(name, parts[0], 1);
        var end = parts.Length > 1 ? Integer(name, parts[1], start) : start;
        var step = parts.Length > 2 ? Integer(name, parts[2], 1) : 1;
        return (start, end, step);
    }
}
