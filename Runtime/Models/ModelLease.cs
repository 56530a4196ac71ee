namespace Fabrik.Models;

/// <summary>A request's hold on a loaded model version; disposing it lets a retiring version go.</summary>
internal readonly struct ModelLease(LoadedModel model) : IDisposable
{
    public LoadedModel Model { get; } = model;

    public void Dispose() => Model.Release();
}
