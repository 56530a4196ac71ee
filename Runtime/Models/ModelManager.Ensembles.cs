using Fabrik.Configuration;
using Fabrik.Ensembles;

namespace Fabrik.Models;

/// <summary>
/// The ensembles' part of the lifecycle: an ensemble is checked against the models its steps name
/// when it loads, so it loads after them (at start, and in explicit mode, where loading an
/// ensemble loads what it needs first); it is checked again whenever one of them loads, reloads or
/// unloads, so it is READY exactly while every step's model is served and fits, and UNAVAILABLE
/// with the reason otherwise. The steps' requests reach their models through
/// <see cref="IComposingModels"/>.
/// </summary>
internal sealed partial class ModelManager
{
    /// <summary>Ensembles of ensembles are followed this deep, which also ends a cycle of
    /// ensembles that name each other.</summary>
    private const int MaxEnsembleDepth = 8;

    IComposingModel IComposingModels.Acquire(string name, string? version) => Acquire(name, version).Model;

    ModelConfig IComposingModels.Describe(string name, string? version) => Resolve(name, version).Config;

    /// <summary>The models to load at start apart from the ensembles, and the ensembles.</summary>
    private static (List<ModelSource> Plain, List<ModelSource> Ensembles) SplitEnsembles(List<ModelSource> startup)
    {
        var ensembles = startup.Where(source => ModelLoader.ComposingModels(source).Count > 0).ToList();
        return ([.. startup.Except(ensembles)], ensembles);
    }

    /// <summary>Explicit mode: the models named at start, and those their ensembles' steps name.</summary>
    private List<ModelSource> WithComposingModels(List<ModelSource> startup)
    {
        var names = new HashSet<string>(startup.Select(source => source.Name), StringComparer.Ordinal);
        var all = new List<ModelSource>(startup);
        for (var i = 0; i < all.Count; i++)
        {
            foreach (var name in ModelLoader.ComposingModels(all[i]))
            {
                if (names.Add(name) && FindSource(name) is { } source)
                {
                    all.Add(source);
                }
            }
        }
        return all;
    }

    /// <summary>Loads ensembles after the models they use, an ensemble of ensembles after those:
    /// each pass loads those whose steps' models are all READY, until none is left or a pass
    /// makes no progress (the rest then load and fail with the reason).</summary>
    private async Task LoadEnsemblesAsync(List<ModelSource> ensembles)
    {
        var waiting = new List<ModelSource>(ensembles);
        while (waiting.Count > 0)
        {
            var ready = waiting.Where(source => ModelLoader.ComposingModels(source).All(IsReady)).ToList();
            foreach (var source in ready.Count > 0 ? ready : waiting)
            {
                await LoadOrReloadAsync(source);
            }
            waiting = ready.Count > 0 ? [.. waiting.Except(ready)] : [];
        }
    }

    /// <summary>Explicit mode: before an ensemble loads, the models its steps name that are not
    /// READY are loaded (ensembles among them with theirs first).</summary>
    private async Task LoadComposingModelsAsync(ModelSource source, int depth)
    {
        if (depth >= MaxEnsembleDepth)
        {
            return;
        }
        foreach (var name in ModelLoader.ComposingModels(source))
        {
            if (!IsReady(name) && FindSource(name) is { } composing)
            {
                await LoadComposingModelsAsync(composing, depth + 1);
                await LoadOrReloadAsync(composing, depth + 1);
            }
        }
    }

    /// <summary>Checks every loaded or waiting ensemble whose steps name <paramref name="name"/>
    /// again, after that model changed. Under <see cref="_lifecycle"/>.</summary>
    private async Task RefreshDependentsAsync(string name, int depth)
    {
        if (depth >= MaxEnsembleDepth)
        {
            return;
        }
        var dependents = _models.Values.Where(entry => entry.Composing.Contains(name, StringComparer.Ordinal)).Select(entry => entry.Name).ToList();
        foreach (var dependent in dependents)
        {
            if (FindSource(dependent) is { } source)
            {
                await LoadOrReloadAsync(source, depth + 1);
            }
        }
    }

    private bool IsReady(string name) => _models.TryGetValue(name, out var entry) && entry.State == ModelState.Ready;

    private ModelSource? FindSource(string name)
    {
        try
        {
            return ModelRepository.Find(_options.Repositories, name);
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
