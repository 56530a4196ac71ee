using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Fabrik.Tests.Protocol;

/// <summary>
/// Hostile input: hundreds of requests made by mutating valid ones (seeded, so every run sends the
/// same ones). None may get a 5xx, the server must keep answering, a valid request must still get
/// the right answer afterwards, and no pooled buffer may leak.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class BadInputTests(ServerFixture fixture, ITestOutputHelper output)
{
    private const int Seed = 20261125;

    private readonly HttpClient _client = fixture.Client;

    [Fact]
    public async Task Infer_HundredsOfMalformedRequests_NeverA5xxAndStillServes()
    {
        var random = new Random(Seed);
        var statuses = new Dictionary<HttpStatusCode, int>();
        var sent = 0;
        foreach (var (model, request) in Mutations(random))
        {
            using var response = await _client.SendAsync(request(model));
            var status = response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            sent++;
            var body = await response.Content.ReadAsStringAsync();
            Assert.True((int)status < 500, $"request {sent} to '{model}' got {(int)status}: {body}");
            if (status != HttpStatusCode.OK)
            {
                Assert.False(string.IsNullOrWhiteSpace((string?)JsonNode.Parse(body)?["error"]), $"request {sent}: error without a message: {body}");
            }
        }
        output.WriteLine($"{sent} requests: " + string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{(int)s.Key} x{s.Value}")));
        Assert.True(sent >= 200, $"only {sent} requests were generated");

        foreach (var model in Samples.ModelNames)
        {
            var sample = Samples.Sample(model, 0);
            using var content = new StringContent(new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString(), Encoding.UTF8, "application/json");
            using var response = await _client.PostAsync($"/v2/models/{model}/infer", content);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outputs"]!.AsArray(), (double)sample["tolerance"]!);
        }

        var pool = fixture.Server.TensorPool;
        await Eventually.HoldsAsync(() => pool.Outstanding == 0, TimeSpan.FromSeconds(10));
        Assert.Equal(0, pool.Outstanding);
    }

    /// <summary>Yields (model, request factory) pairs; each factory builds a fresh message.</summary>
    private static IEnumerable<(string Model, Func<string, HttpRequestMessage> Request)> Mutations(Random random)
    {
        var jsonMutators = new Func<Random, JsonObject, JsonObject>[]
        {
            (r, req) => { Input(r, req)["shape"] = new JsonArray(r.Next(-5, 5), r.NextInt64(long.MinValue, long.MaxValue)); return req; },
            (r, req) => { Input(r, req)["shape"] = new JsonArray(1L << 40, 1L << 40, 16); return req; },
            (r, req) => { Input(r, req)["datatype"] = Pick(r, ["FP8", "int32", "", "BYTES", "FP16", "BOOL", "\u0000", "UINT64"]); return req; },
            (r, req) => { Input(r, req)["data"] = RandomJson(r, 3); return req; },
            (r, req) => { Input(r, req)["data"] = new JsonArray(Enumerable.Range(0, r.Next(0, 40)).Select(_ => RandomJson(r, 0)).ToArray()); return req; },
            (r, req) => { Input(r, req).Remove(Pick(r, ["name", "datatype", "shape", "data"])); return req; },
            (r, req) => { Input(r, req)["name"] = Pick(r, ["", "INPUT0\u0000", "../etc/passwd", new string('x', 5000), "OUTPUT0"]); return req; },
            (r, req) => { Input(r, req)["parameters"] = new JsonObject { ["binary_data_size"] = r.Next(-10, 1000) }; return req; },
            (r, req) => { req["inputs"] = RandomJson(r, 2); return req; },
            (r, req) => { req["outputs"] = new JsonArray(new JsonObject { ["name"] = Pick(r, ["NOPE", "OUTPUT0", ""]), ["parameters"] = new JsonObject { ["binary_data"] = RandomJson(r, 0), ["classification"] = r.Next(0, 2) } }); return req; },
            (r, req) => { req["parameters"] = RandomJson(r, 2); return req; },
            (r, req) => { req["id"] = RandomJson(r, 1); return req; },
            (r, req) => { var inputs = req["inputs"]!.AsArray(); inputs.Add(inputs[0]!.DeepClone()); return req; },
            (r, req) => { Input(r, req)["data"] = Nest(r.Next(60, 80)); return req; },
        };

        for (var i = 0; i < 260; i++)
        {
            var model = Samples.ModelNames[random.Next(Samples.ModelNames.Length)];
            var sample = Samples.Sample(model, 0);
            var request = new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() };
            var kind = random.Next(10);
            if (kind < 6)
            {
                // Structurally plausible JSON with one or two semantic mutations.
                for (var m = random.Next(1, 3); m > 0; m--)
                {
                    request = jsonMutators[random.Next(jsonMutators.Length)](random, request);
                }
                var text = request.ToJsonString();
                yield return (model, name => Post(name, Encoding.UTF8.GetBytes(text), null));
            }
            else if (kind < 8)
            {
                // Byte-level damage: truncation, flipped bytes, inserted garbage.
                var bytes = Encoding.UTF8.GetBytes(request.ToJsonString());
                bytes = Damage(random, bytes);
                yield return (model, name => Post(name, bytes, null));
            }
            else
            {
                // The binary extension with lying or damaged header lengths.
                var bytes = Encoding.UTF8.GetBytes(request.ToJsonString());
                var extra = new byte[random.Next(0, 200)];
                random.NextBytes(extra);
                var header = Pick(random, [-1L, 0L, bytes.Length, bytes.Length - random.Next(1, 10), bytes.Length + extra.Length + random.Next(1, 100), long.MaxValue]);
                byte[] body = [.. bytes, .. extra];
                yield return (model, name => Post(name, body, header.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
        }
    }

    private static HttpRequestMessage Post(string model, byte[] body, string? headerLength)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{model}/infer") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (headerLength is not null)
        {
            request.Headers.TryAddWithoutValidation("Inference-Header-Content-Length", headerLength);
        }
        return request;
    }

    private static JsonObject Input(Random random, JsonObject request)
    {
        var inputs = request["inputs"] as JsonArray;
        if (inputs is null || inputs.Count == 0 || inputs[random.Next(inputs.Count)] is not JsonObject input)
        {
            var replacement = new JsonObject();
            request["inputs"] = new JsonArray(replacement);
            return replacement;
        }
        return input;
    }

    private static JsonNode? RandomJson(Random random, int depth)
    {
        switch (random.Next(depth > 0 ? 9 : 7))
        {
            case 0: return null;
            case 1: return random.Next(2) == 0;
            case 2: return random.NextInt64(long.MinValue, long.MaxValue);
            case 3: return random.NextDouble() * Math.Pow(10, random.Next(-300, 300));
            case 4: return new string((char)random.Next(32, 0x2FFF), random.Next(0, 20));
            case 5: return "1e999";
            case 6: return ulong.MaxValue;
            case 7: return new JsonArray(Enumerable.Range(0, random.Next(0, 5)).Select(_ => RandomJson(random, depth - 1)).ToArray());
            default:
                var obj = new JsonObject();
                for (var i = random.Next(0, 4); i > 0; i--)
                {
                    obj[Pick(random, ["name", "shape", "data", "datatype", "parameters", "x"]) + i] = RandomJson(random, depth - 1);
                }
                return obj;
        }
    }

    private static JsonNode Nest(int depth)
    {
        JsonNode node = new JsonArray(1);
        for (var i = 0; i < depth; i++)
        {
            node = new JsonArray(node);
        }
        return node;
    }

    private static byte[] Damage(Random random, byte[] bytes)
    {
        switch (random.Next(3))
        {
            case 0:
                return bytes[..random.Next(bytes.Length)];
            case 1:
                var flipped = (byte[])bytes.Clone();
                for (var i = random.Next(1, 8); i > 0; i--)
                {
                    flipped[random.Next(flipped.Length)] = (byte)random.Next(256);
                }
                return flipped;
            default:
                var garbage = new byte[random.Next(1, 64)];
                random.NextBytes(garbage);
                var at = random.Next(bytes.Length);
                return [.. bytes[..at], .. garbage, .. bytes[at..]];
        }
    }

    private static T Pick<T>(Random random, T[] choices) => choices[random.Next(choices.Length)];
}
