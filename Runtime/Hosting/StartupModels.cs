using Fabrik.Models;

namespace Fabrik.Hosting;

/// <summary>What start-up does when a model fails to load: with --exit-on-error (Triton's
/// default) the server refuses to start, so a supervisor or a scheduler sees the failure at once;
/// with --exit-on-error=false it serves the models that loaded.</summary>
internal static class StartupModels
{
    /// <exception cref="InvalidOperationException">--exit-on-error is on and a model is UNAVAILABLE after the start-up load.</exception>
    public static void ThrowIfAnyFailed(ServerOptions options, ModelManager models)
    {
        if (!options.ExitOnError)
        {
            return;
        }
        var failed = models.Models.Values
            .Where(entry => entry.State == ModelState.Unavailable)
            .OrderBy(entry => entry.Name, StringComparer.Ordinal)
            .Select(entry => $"'{entry.Name}': {entry.Reason}")
            .ToArray();
        if (failed.Length > 0)
        {
            throw new InvalidOperationException(
                $"failed to load all models ({string.Join("; ", failed)}); pass --exit-on-error=false to serve the others");
        }
    }
}
