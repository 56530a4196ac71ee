using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Fabrik.Security;
using Xunit;

namespace Fabrik.Tests.Security;

/// <summary>
/// The audit log as a server writes it (start, model loads with file hashes, authentication
/// failures and denials, inferences, stop), and <c>fabrik audit verify</c> on it untouched and
/// after an edit, a deletion and a swap.
/// </summary>
public sealed class AuditLogTests : IDisposable
{
    private const string Key = "audit-key-5b1e";
    private readonly TemporaryRepository _repository = new TemporaryRepository().Add("simple");
    private readonly string _folder = Directory.CreateTempSubdirectory("fabrik-audit-").FullName;

    public void Dispose()
    {
        _repository.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private async Task<string> WriteServerLogAsync()
    {
        var keys = Path.Combine(_folder, "keys.json");
        File.WriteAllText(keys, AuthTests.KeyFile(("ci", Key, ["infer:simple"])));
        var log = Path.Combine(_folder, "audit.jsonl");
        await using (var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--auth-keys", keys, "--audit-log", log, "--audit-inference=true"))
        {
            using var http = host.CreateHttpClient();
            var unauthenticated = await http.GetAsync("/v2");
            Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);
            // Security events reach the file before the answer does.
            Assert.Contains(ReadRecords(log), record => (string?)record["event"] == "auth-failure" && (string?)record["request"] == "GET /v2");

            using var denied = new HttpRequestMessage(HttpMethod.Get, "/v2") { Headers = { Authorization = new("Bearer", Key) } };
            Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(denied)).StatusCode);
            using var infer = new HttpRequestMessage(HttpMethod.Post, "/v2/models/simple/infer")
            {
                Headers = { Authorization = new("Bearer", Key) },
                // With a Content-Length, as Triton's clients send it (chunked bodies are recorded as -1).
                Content = new StringContent(new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() }.ToJsonString()),
            };
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(infer)).StatusCode);
        }
        return log;
    }

    [Fact]
    public async Task ServerWritesTheEvents_AndVerifyPassesOnTheUntouchedLog()
    {
        var log = await WriteServerLogAsync();
        var records = ReadRecords(log);
        Assert.Equal(["server-start", "model-load", "auth-failure", "auth-denied", "inference", "server-stop"],
            records.Select(record => (string)record["event"]!).ToArray());

        var load = records.Single(record => (string?)record["event"] == "model-load");
        var onnx = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(_repository.Path, "simple", "1", "model.onnx"))));
        Assert.Equal(onnx, (string?)load["files"]!["model.onnx"]);
        Assert.Equal("simple", (string?)load["model"]);

        var inference = records.Single(record => (string?)record["event"] == "inference");
        Assert.Equal("ci", (string?)inference["caller"]);
        Assert.Equal(200, (int)inference["status"]!);
        Assert.True((long)inference["bytes_in"]! > 0, inference.ToJsonString());
        var text = File.ReadAllText(log);
        Assert.DoesNotContain(Key, text, StringComparison.Ordinal);
        Assert.DoesNotContain("INPUT0", text, StringComparison.Ordinal);

        var (exit, output, _) = await FabrikCommand.RunAsync("audit", "verify", log);
        Assert.Equal(0, exit);
        Assert.Contains("intact, 6 records", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyFails_OnAnEditedLine_ADeletedLine_AndASwappedPair_NamingTheLine()
    {
        var log = await WriteServerLogAsync();
        var lines = File.ReadAllLines(log);

        var edited = lines.ToArray();
        edited[2] = edited[2].Replace("GET /v2", "GET /v3", StringComparison.Ordinal);
        await AssertBrokenAtAsync(edited, 3);

        await AssertBrokenAtAsync([.. lines[..3], .. lines[4..]], 4);

        var swapped = lines.ToArray();
        (swapped[3], swapped[4]) = (swapped[4], swapped[3]);
        await AssertBrokenAtAsync(swapped, 4);

        await AssertBrokenAtAsync(lines[1..], 1);
    }

    [Fact]
    public void Integers_AreWrittenExactly_AboveTwoToThe53()
    {
        // A shared-memory byte_size or a usage byte count can pass 2^53, where a double rounds.
        var log = Path.Combine(_folder, "integers.jsonl");
        const long Large = (1L << 53) + 1;
        using (var audit = new AuditLog(log))
        {
            audit.Write("shared-memory-register", ("byte_size", Large), ("device_id", 3), ("ratio", 0.5));
        }
        var line = File.ReadAllLines(log).Single();
        Assert.Contains("\"byte_size\":9007199254740993,", line, StringComparison.Ordinal);
        Assert.Contains("\"device_id\":3,", line, StringComparison.Ordinal);
        Assert.Contains("\"ratio\":0.5,", line, StringComparison.Ordinal);
        Assert.True(AuditChain.Verify(log).Intact);
    }

    [Fact]
    public async Task ReopeningTheLog_ContinuesItsChain()
    {
        var log = await WriteServerLogAsync();
        await using (await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--audit-log", log))
        {
        }
        var (exit, output, error) = await FabrikCommand.RunAsync("audit", "verify", log);
        Assert.True(exit == 0, error);
        Assert.Contains("intact, 9 records", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAndUnload_RecordWhoAsked_OverHttpAndGrpc()
    {
        var keys = Path.Combine(_folder, "keys.json");
        File.WriteAllText(keys, AuthTests.KeyFile(("ops", Key, ["repository"])));
        var log = Path.Combine(_folder, "repository.jsonl");
        await using (var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--model-control-mode=explicit",
            "--auth-keys", keys, "--audit-log", log))
        {
            using var http = host.CreateHttpClient();
            using var load = new HttpRequestMessage(HttpMethod.Post, "/v2/repository/models/simple/load") { Headers = { Authorization = new("Bearer", Key) } };
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(load)).StatusCode);
            using var channel = host.CreateGrpcChannel();
            await new Fabrik.Protocol.Triton.GRPCInferenceService.GRPCInferenceServiceClient(channel).RepositoryModelUnloadAsync(
                new Fabrik.Protocol.Triton.RepositoryModelUnloadRequest { ModelName = "simple" }, new Grpc.Core.Metadata { { "authorization", $"Bearer {Key}" } });
        }
        var records = ReadRecords(log);
        Assert.Equal(["server-start", "model-load", "repository-request", "repository-request", "server-stop"], records.Select(record => (string)record["event"]!).ToArray());
        var requests = records.Where(record => (string?)record["event"] == "repository-request").ToList();
        Assert.All(requests, record => Assert.Equal("ops", (string?)record["caller"]));
        Assert.Equal("POST /v2/repository/models/simple/load", (string?)requests[0]["request"]);
        Assert.Contains("RepositoryModelUnload simple", (string?)requests[1]["request"], StringComparison.Ordinal);
        Assert.Equal(0, (await FabrikCommand.RunAsync("audit", "verify", log)).ExitCode);
    }

    [Fact]
    public async Task Rotation_KeepsTheChainAcrossFiles_AndVerifyNamesTheBrokenFile()
    {
        var log = Path.Combine(_folder, "rotating.jsonl");
        WriteFailures(log, 100);
        Assert.True(File.Exists(log + ".1") && File.Exists(log + ".2"), "the log did not rotate");
        var (exit, _, error) = await FabrikCommand.RunAsync("audit", "verify", log);
        Assert.True(exit == 0, error);
        var continued = ReadRecords(log + ".2")[0];
        Assert.Equal("log-continued", (string?)continued["event"]);
        Assert.Equal("rotating.jsonl.1", (string?)continued["previous_file"]);

        // A record cut from the middle file breaks the chain there, and the error names that file.
        var lines = File.ReadAllLines(log + ".1").ToList();
        lines.RemoveAt(lines.Count - 1);
        File.WriteAllLines(log + ".1", lines);
        (exit, _, error) = await FabrikCommand.RunAsync("audit", "verify", log);
        Assert.Equal(1, exit);
        Assert.Contains("rotating.jsonl.2: line 1:", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retention_KeepsTheNewestRotatedFiles_AndVerifyStartsFromTheFirstKeptRecord()
    {
        var log = Path.Combine(_folder, "kept.jsonl");
        WriteFailures(log, 300, maxFiles: 2);

        // About 25 records fill 4 KiB, so 300 rotate more than ten times; two rotated files are left,
        // the two newest, numbered on from the ones deleted.
        var kept = Directory.GetFiles(_folder).Select(Path.GetFileName).Where(name => name!.StartsWith("kept.jsonl.", StringComparison.Ordinal))
            .Select(name => int.Parse(name!["kept.jsonl.".Length..], System.Globalization.CultureInfo.InvariantCulture)).Order().ToList();
        Assert.Equal(2, kept.Count);
        Assert.True(kept[0] >= 10, $"only {kept[1]} rotations");
        Assert.Equal(kept[0] + 1, kept[1]);
        var first = $"{log}.{kept[0]}";
        Assert.Equal("log-continued", (string?)ReadRecords(first)[0]["event"]);
        var deletions = ReadRecords(log).Concat(ReadRecords($"{log}.{kept[1]}")).Where(record => (string?)record["event"] == "log-retention").ToList();
        Assert.Contains(deletions, record => (string?)record["file"] == $"kept.jsonl.{kept[0] - 1}");

        var (exit, output, error) = await FabrikCommand.RunAsync("audit", "verify", log);
        Assert.True(exit == 0, error);
        var keptRecords = new[] { first, $"{log}.{kept[1]}", log }.Sum(file => File.ReadAllLines(file).Length);
        Assert.Contains($"intact, {keptRecords} records, verified from the first kept record", output, StringComparison.Ordinal);
        Assert.Contains($"kept.jsonl.{kept[0] - 1}", output, StringComparison.Ordinal);

        // An edit to a kept record is still found.
        var lines = File.ReadAllLines(first);
        var request = Array.FindIndex(lines, line => line.Contains("GET /v2/", StringComparison.Ordinal));
        lines[request] = lines[request].Replace("GET /v2/", "GET /v3/", StringComparison.Ordinal);
        File.WriteAllLines(first, lines);
        (exit, _, error) = await FabrikCommand.RunAsync("audit", "verify", log);
        Assert.Equal(1, exit);
        Assert.Contains($"kept.jsonl.{kept[0]}: line {request + 1}: the record was changed", error, StringComparison.Ordinal);

        // The oldest kept file removed by hand: the log recorded no such deletion, so the chain is broken.
        File.Delete(first);
        (exit, _, error) = await FabrikCommand.RunAsync("audit", "verify", log);
        Assert.Equal(1, exit);
        Assert.Contains($"kept.jsonl.{kept[1]}: line 1: the records before this file are gone", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_AFileOnItsOwnThatContinuesAnother_IsIntactFromItsFirstRecord_AndSaysSo()
    {
        var log = Path.Combine(_folder, "alone.jsonl");
        WriteFailures(log, 40);
        var copy = Path.Combine(_folder, "copied", "alone.jsonl");
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        File.Copy(log, copy);

        var (exit, output, error) = await FabrikCommand.RunAsync("audit", "verify", copy);
        Assert.True(exit == 0, error);
        Assert.Contains("verified from its first record", output, StringComparison.Ordinal);
        Assert.Contains("which continues a file that is not here", output, StringComparison.Ordinal);
    }

    /// <summary>Writes <paramref name="count"/> authentication failures to a log rotated at 4 KiB
    /// (about 25 records a file), keeping <paramref name="maxFiles"/> rotated files (0: all).</summary>
    private static void WriteFailures(string log, int count, int maxFiles = 0)
    {
        using var audit = new Fabrik.Security.AuditLog(log, maxBytes: 4096, maxFiles: maxFiles);
        for (var i = 0; i < count; i++)
        {
            audit.Write("auth-failure", ("client", "127.0.0.1"), ("request", $"GET /v2/{i}"), ("reason", "unknown key"));
        }
    }

    private async Task AssertBrokenAtAsync(string[] lines, int line)
    {
        var path = Path.Combine(_folder, $"tampered-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(path, lines);
        var (exit, _, error) = await FabrikCommand.RunAsync("audit", "verify", path);
        Assert.Equal(1, exit);
        Assert.Contains($"line {line}:", error, StringComparison.Ordinal);
    }

    private static List<JsonNode> ReadRecords(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return [.. reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonNode.Parse(line)!)];
    }
}
