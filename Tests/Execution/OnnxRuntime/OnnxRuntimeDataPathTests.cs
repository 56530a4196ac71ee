using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Devices;
using Fabrik.Execution;
using Fabrik.Execution.OnnxRuntime;
using Fabrik.Inference;
using Fabrik.Protocol.Http;
using Fabrik.Tensors;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Execution.OnnxRuntime;

/// <summary>
/// ONNX Runtime's data path on the committed models, compared with the outputs NumPy stored at
/// generation time: inputs wrapped in place, outputs pre-allocated in pooled buffers where the
/// model fixes their shape and copied out where it does not. GPU instances take the same path.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class OnnxRuntimeDataPathTests(ServerFixture fixture)
{
    [Theory]
    [InlineData("simple")]
    [InlineData("mlp")]
    [InlineData("cnn")]
    [InlineData("strings")]
    [InlineData("identity")]
    public void Run_GivesTheStoredOutputsAndReturnsEveryBuffer(string model)
    {
        var loaded = fixture.Server.Models.Resolve(model, null);
        var pool = new TensorMemoryPool();
        var modelPath = ModelInstanceFactory.ModelFilePath(loaded.Config, new OnnxRuntimeBackend(), Path.Combine(RepositoryLayout.Models, model, "1"));
        using (var instance = new OnnxRuntimeInstance(loaded.Config, modelPath, pool, OnnxRuntimeSettings.Defaults(), InstanceDevice.Cpu))
        {
            // mlp, simple and cnn fix every output dimension but the batch; identity's are
            // variable and strings' are BYTES, so those take the copy-out path.
            Assert.Equal(model is "simple" or "mlp" or "cnn", instance.PreallocatesAllOutputs);

            foreach (var sample in Samples.Load(model)["samples"]!.AsArray())
            {
                var body = Encoding.UTF8.GetBytes(new JsonObject { ["inputs"] = sample!["inputs"]!.DeepClone() }.ToJsonString());
                using var request = JsonInferenceRequestReader.Read(new ReadOnlySequence<byte>(body), null, loaded, pool, CancellationToken.None);
                var timings = default(ExecutionTimings);
                using var response = new InferenceResponse(instance.Run(request.Inputs, ref timings, timeLeft: null));

                var json = new ArrayBufferWriter<byte>();
                JsonInferenceResponseWriter.Write(json, loaded, request, response);
                var outputs = JsonNode.Parse(json.WrittenSpan)!["outputs"]!.AsArray();
                TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), outputs, (double)sample["tolerance"]!);
            }
        }
        Assert.Equal(0, pool.Outstanding);
    }
}
