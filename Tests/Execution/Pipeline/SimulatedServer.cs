using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Models;
using Fabrik.Scheduling;
using Fabrik.Testing.SimulatedDevice;

namespace Fabrik.Tests.Execution.Pipeline;

/// <summary>
/// The real server in memory with the simulated device registered and one model of
/// <see cref="SimulatedModel"/> served, and a JSON client for it: a request of one row of
/// <see cref="SimulatedModel.Width"/> FP32 values, whose expected answer the test computes itself
/// (each value plus one).
/// </summary>
internal sealed class SimulatedServer : IAsyncDisposable
{
    private readonly TemporaryRepository _repository;
    private bool _stopped;

    private SimulatedServer(TemporaryRepository repository, InMemoryFabrik fabrik, SimulatedDeviceBackend backend, SimulatedModel model)
    {
        _repository = repository;
        Fabrik = fabrik;
        Backend = backend;
        Model = model;
        Client = fabrik.CreateHttpClient();
    }

    public InMemoryFabrik Fabrik { get; }

    public SimulatedDeviceBackend Backend { get; }

    public SimulatedModel Model { get; }

    public HttpClient Client { get; }

    public LoadedModel Loaded => Fabrik.Server.Models.Resolve(Model.Name, null);

    public ModelScheduler Scheduler => Loaded.Scheduler;

    public SimulatedDeviceInstance Instance => Backend.Instances[^1];

    public static async Task<SimulatedServer> StartAsync(SimulatedModel model, params string[] arguments)
    {
        var repository = new TemporaryRepository();
        model.WriteTo(repository.Path);
        var backend = new SimulatedDeviceBackend();
        try
        {
            var fabrik = await InMemoryFabrik.StartWithBackendsAsync(
                ServerOptions.Parse(["--model-repository", repository.Path, "--exit-on-error=false", .. arguments]), backend);
            return new SimulatedServer(repository, fabrik, backend, model);
        }
        catch
        {
            repository.Dispose();
            throw;
        }
    }

    /// <summary>The values of request <paramref name="k"/>: distinct per request, the first one
    /// (the batch tag the device records) equal to k.</summary>
    public float[] Values(int k) => [.. Enumerable.Range(0, Model.Width).Select(i => k + (i * 0.25f))];

    /// <summary>Sends one row; returns the status and, on success, the output values.</summary>
    public async Task<(HttpStatusCode Status, float[]? Outputs, string Body)> InferAsync(float[] values, CancellationToken cancellation = default)
    {
        var data = string.Join(",", values.Select(value => float.IsNaN(value) ? "NaN" : value.ToString("R", CultureInfo.InvariantCulture)));
        var body = $$"""{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,{{values.Length}}],"data":[{{data}}]}]}""";
        using var response = await Client.PostAsync($"/v2/models/{Model.Name}/infer", new StringContent(body, Encoding.UTF8, "application/json"), cancellation);
        var text = await response.Content.ReadAsStringAsync(cancellation);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return (response.StatusCode, null, text);
        }
        var outputs = JsonNode.Parse(text)!["outputs"]!.AsArray()[0]!["data"]!.AsArray().Select(value => (float)value!).ToArray();
        return (response.StatusCode, outputs, text);
    }

    /// <summary>Stops the server (each request still inside is answered first) and checks that
    /// every pooled buffer came back and the staging's bytes left the pool's count.</summary>
    public async Task StopAndCheckNothingLeakedAsync()
    {
        var pool = Fabrik.Server.TensorPool;
        _stopped = true;
        await Fabrik.DisposeAsync();
        Client.Dispose();
        await Eventually.UntilAsync(() => pool.Outstanding == 0 && pool.ExternalBytes == 0,
            $"every pooled buffer back and the staging freed ({pool.Outstanding} out, {pool.ExternalBytes} staging bytes counted)");
        PoolLeaks.AssertNoneOutstanding(pool);
        _repository.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var instance in Backend.Instances)
        {
            instance.Thaw(); // a test that failed while the device was frozen still stops
        }
        if (!_stopped)
        {
            Client.Dispose();
            await Fabrik.DisposeAsync();
            _repository.Dispose();
        }
    }
}
