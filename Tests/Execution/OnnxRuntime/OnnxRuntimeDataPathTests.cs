using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Devices;
using Fabrik.Execution;
using Fabrik.Execution.OnnxRuntime;
using Fabrik.Observability;
using Fabrik.Protocol.Http;
using Fabrik.Scheduling;
using Fabrik.Tensors;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Execution.OnnxRuntime;

/// <summary>
/// ONNX Runtime's two data paths on the committed models, compared with the outputs NumPy stored
/// at generation time: the direct run (outputs pre-allocated in pooled buffers where the model
/// fixes their shape) and the IOBinding run that GPU instances use, forced here onto the CPU so
/// that its binding, pre-allocation and copy-out logic runs on every machine.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class OnnxRuntimeDataPathTests(ServerFixture fixture)
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (var model in new[] { "simple", "mlp", "cnn", "strings", "identity" })
        {
            foreach (var ioBinding in new[] { false, true })
            {
                yield return [model, ioBinding];
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Run_EitherDataPath_GivesTheStoredOutputsAndReturnsEveryBuffer(string model, bool ioBinding)
    {
        var loaded = fixture.Server.Models.Resolve(model, null);
        var pool = new TensorMemoryPool();
        var modelPath = ModelInstanceFactory.ModelFilePath(loaded.Config, new OnnxRuntimeBackend(), Path.Combine(RepositoryLayout.Models, model, "1"));
        using (var instance = new OnnxRuntimeInstance(loaded.Config, modelPath, pool, OnnxRuntimeSettings.Defaults(), InstanceDevice.Cpu, ioBinding))
        {
            Assert.Equal(ioBinding, instance.UsesIoBinding);
            // mlp, simple and cnn fix every output dimension but the batch; identity's are
            // variable and strings' are BYTES, so those take the copy-out path.
            Assert.Equal(model is "simple" or "mlp" or "cnn", instance.PreallocatesAllOutputs);

            foreach (var sample in Samples.Load(model)["samples"]!.AsArray())
            {
                var body = Encoding.UTF8.GetBytes(new JsonObject { ["inputs"] = sample!["inputs"]!.DeepClone() }.ToJsonString());
                using var request = JsonInferenceRequestReader.Read(new ReadOnlySequence<byte>(body), null, loaded, pool, CancellationToken.None);
                var timings = default(ExecutionTimings);
                using var response = new InferenceResponse(instance.Run(request.Inputs, ref timings));

                var json = new ArrayBufferWriter<byte>();
                JsonInferenceResponseWriter.Write(json, loaded, request, response);
                var outputs = JsonNode.Parse(json.WrittenSpan)!["outputs"]!.AsArray();
                TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), outputs, (double)sample["tolerance"]!);
            }
        }
        Assert.Equal(0, pool.Outstanding);
    }
}
