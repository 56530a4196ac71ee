using Fabrik.Configuration;
using Fabrik.Errors;
using System.Diagnostics;
using Fabrik.Inference;
using Fabrik.Observability.Tracing;
using Fabrik.Tensors;

namespace Fabrik.Ensembles;

/// <summary>
/// One request's pass through an ensemble: tensors flow by slot from the ensemble's inputs through
/// the steps to its outputs, and each step starts as soon as the steps it reads from are done, so
/// steps that do not depend on each other run at once. Each step is a request of its own to its
/// model's scheduler, carrying the ensemble request's id, parameters, tenant and cancellation.
/// </summary>
/// <remarks>
/// Ownership: the ensemble's inputs stay the caller's request's. The run takes a lease on every
/// step's model before the first step starts (so an unload waits for it) and owns every step
/// output until the end: the ensemble's outputs move into the response, everything else goes back
/// to the pool, whether the run succeeded or failed, and only after every started step is done
/// (so no buffer a step still reads is freed). A slot is written once, by its producer, before
/// the tasks of the steps that read it continue; the task hand-off orders the accesses.
/// </remarks>
internal sealed class EnsembleRun
{
    private readonly EnsemblePlan _plan;
    private readonly InferenceRequest _request;
    private readonly IComposingModel?[] _models;
    private readonly TensorBuffer?[] _tensors;
    private readonly bool[] _owned;
    private readonly Task[] _steps;
    private volatile bool _failed;

    private EnsembleRun(EnsemblePlan plan, InferenceRequest request)
    {
        _plan = plan;
        _request = request;
        _models = new IComposingModel?[plan.Steps.Length];
        _tensors = new TensorBuffer?[plan.TensorNames.Length];
        _owned = new bool[plan.TensorNames.Length];
        _steps = new Task[plan.Steps.Length];
    }

    /// <summary>Runs <paramref name="request"/> through <paramref name="plan"/>.</summary>
    public static async Task<InferenceResponse> RunAsync(EnsemblePlan plan, InferenceRequest request, IComposingModels models)
    {
        var run = new EnsembleRun(plan, request);
        try
        {
            run.AcquireModels(models);
            return await run.ExecuteAsync();
        }
        finally
        {
            run.ReleaseEverything();
        }
    }

    private void AcquireModels(IComposingModels models)
    {
        foreach (var step in _plan.Steps)
        {
            try
            {
                _models[step.Index] = models.Acquire(step.Step.ModelName, step.Step.VersionText);
            }
            catch (InferenceException e)
            {
                // The ensemble exists; a step's model that is not served makes it unavailable, not unknown.
                throw new InferenceException(e.Kind == ErrorKind.NotFound ? ErrorKind.Unavailable : e.Kind, $"ensemble '{_plan.Name}' {step.Label}: {e.Message}", e);
            }
        }
    }

    private async Task<InferenceResponse> ExecuteAsync()
    {
        for (var i = 0; i < _plan.InputSlots.Length; i++)
        {
            _tensors[_plan.InputSlots[i]] = _request.Inputs[i];
        }
        foreach (var index in _plan.Order)
        {
            _steps[index] = RunStepAsync(_plan.Steps[index]);
        }
        // Every step ends before this does (a failed one included), so the buffers are freed
        // only once nothing reads them; the first failing step's error is the request's.
        await Task.WhenAll(_steps);
        var outputs = new TensorBuffer[_plan.OutputSlots.Length];
        for (var i = 0; i < outputs.Length; i++)
        {
            var slot = _plan.OutputSlots[i];
            outputs[i] = _tensors[slot]!;
            _tensors[slot] = null; // the response's now
        }
        return new InferenceResponse(outputs);
    }

    private async Task RunStepAsync(PlannedStep step)
    {
        foreach (var dependency in step.DependsOn)
        {
            await _steps[dependency]; // a failed dependency fails this step with its error
        }
        if (_failed)
        {
            return; // another step failed: the request's answer is its error
        }
        if (!_plan.IsChain)
        {
            // Steps that may run at once must not run one after the other on this thread (a
            // scheduler with an idle instance runs a request on its caller's thread).
            await Task.Yield();
        }
        try
        {
            await RunModelAsync(step, _models[step.Index]!);
        }
        catch (InferenceException e)
        {
            _failed = true;
            throw new InferenceException(e.Kind, $"ensemble '{_plan.Name}' {step.Label}: {e.Message}", e);
        }
        catch
        {
            _failed = true;
            throw;
        }
    }

    private async Task RunModelAsync(PlannedStep step, IComposingModel model)
    {
        var config = model.Config;
        if (!ReferenceEquals(config, step.Model))
        {
            throw InferenceException.Unavailable($"model '{config.Name}' was reloaded since the ensemble was checked against it; the ensemble is being checked again");
        }
        var inputs = new TensorBuffer?[config.Inputs.Length];
        for (var i = 0; i < inputs.Length; i++)
        {
            var slot = step.InputSlots[i];
            inputs[i] = slot < 0 ? null : _tensors[slot];
        }
        var request = new InferenceRequest(inputs, BatchSize(step, config, inputs))
        {
            Id = _request.Id,
            Parameters = _request.Parameters,
            Tenant = _request.Tenant,
            Cancellation = _request.Cancellation,
            // A traced ensemble request traces each of its steps (a span each, under its own).
            Timeline = _request.Timeline is null ? null : new RequestTimeline(),
        };
        // The step's request is never disposed: its inputs are the run's (or the caller's).
        InferenceResponse response;
        var sent = Stopwatch.GetTimestamp();
        var failed = true;
        try
        {
            response = await model.InferAsync(request);
            failed = false;
        }
        finally
        {
            if (request.Timeline is { } timeline)
            {
                InferenceTracing.FinishStep(step.Label, config.Name, model.VersionText, sent, timeline, failed);
            }
        }
        for (var i = 0; i < response.Outputs.Length; i++)
        {
            var slot = i < step.OutputSlots.Length ? step.OutputSlots[i] : -1;
            if (slot < 0)
            {
                response.Outputs[i].Dispose();
                continue;
            }
            _tensors[slot] = response.Outputs[i];
            _owned[slot] = true;
        }
    }

    /// <summary>The step request's rows; checks each input's shape against what the step's
    /// model takes (what -1 in the configurations left open when the ensemble loaded).</summary>
    private int BatchSize(PlannedStep step, ModelConfig config, TensorBuffer?[] inputs)
    {
        var batched = config.MaxBatchSize > 0;
        var rows = -1L;
        for (var i = 0; i < inputs.Length; i++)
        {
            if (inputs[i] is not { } tensor)
            {
                continue;
            }
            var dims = config.Inputs[i].Dims;
            var shape = tensor.Shape;
            var offset = batched ? 1 : 0;
            var fits = shape.Length == dims.Length + offset;
            if (fits && batched)
            {
                rows = rows < 0 ? shape[0] : rows;
                fits = shape[0] == rows && shape[0] >= 1 && shape[0] <= config.MaxBatchSize;
            }
            for (var d = 0; fits && d < dims.Length; d++)
            {
                fits = dims[d] == -1 || dims[d] == shape[d + offset];
            }
            if (!fits)
            {
                throw InferenceException.InvalidArgument(
                    $"tensor '{_plan.TensorNames[step.InputSlots[i]]}' has shape {EnsemblePlanner.Format(shape)}, which input '{config.Inputs[i].Name}' of model '{config.Name}' does not take "
                    + $"({EnsemblePlanner.Format(EnsemblePlanner.FullShape(dims, batched))}{(batched ? $", at most {config.MaxBatchSize} rows" : "")})");
            }
        }
        return rows > 0 ? (int)rows : 1;
    }

    private void ReleaseEverything()
    {
        for (var slot = 0; slot < _tensors.Length; slot++)
        {
            if (_owned[slot])
            {
                _tensors[slot]?.Dispose();
            }
            _tensors[slot] = null;
        }
        foreach (var model in _models)
        {
            model?.Release();
        }
    }
}
