using System.Security.Cryptography;
using Fabrik.Security;
using Fabrik.Security.ModelSigning;

namespace Fabrik.Hosting.Commands;

/// <summary>
/// The security sub-commands of the fabrik executable:
/// <c>fabrik audit verify PATH</c>, <c>fabrik model sign --key PRIVATE.pem DIR</c> and
/// <c>fabrik model verify --trust-key PUBLIC.pem DIR</c>. Exit 0 on success, 1 when the check
/// fails, 2 for a bad command line.
/// </summary>
internal static class SecurityCommands
{
    /// <summary>Runs the command when <paramref name="args"/> is one of these; null otherwise.</summary>
    public static int? TryRun(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        try
        {
            return args switch
            {
                ["audit", "verify", var path] => VerifyAudit(path, output, error),
                ["audit", ..] => Usage(error, "fabrik audit verify <audit log>"),
                ["model", "sign", ..] => Sign(Options(args, "--key"), output),
                ["model", "verify", ..] => Verify(Options(args, "--trust-key"), output, error),
                ["model", ..] => Usage(error, "fabrik model sign --key PRIVATE.pem <model>/<version> | fabrik model verify --trust-key PUBLIC.pem <model>/<version>"),
                _ => null,
            };
        }
        catch (ArgumentException e)
        {
            error.WriteLine($"fabrik: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            error.WriteLine($"fabrik: {e.Message}");
            return 1;
        }
    }

    private static int Usage(TextWriter error, string usage)
    {
        error.WriteLine($"usage: {usage}");
        return 2;
    }

    private static int VerifyAudit(string path, TextWriter output, TextWriter error)
    {
        var result = AuditChain.Verify(path);
        if (result.Intact)
        {
            output.WriteLine(result switch
            {
                { StartFile: null } => $"{path}: intact, {result.Records} records",
                { DeletedByRetention: { } deleted } =>
                    $"{path}: intact, {result.Records} records, verified from the first kept record ({result.StartFile}, line 1); "
                    + $"the records before it were in {deleted} and earlier files, which --audit-log-max-files deleted, as the log records",
                _ => $"{path}: intact, {result.Records} records, verified from its first record ({result.StartFile}, line 1), "
                    + "which continues a file that is not here",
            });
            return 0;
        }
        error.WriteLine($"{result.File}: line {result.BrokenLine}: {result.Reason}");
        return 1;
    }

    /// <summary>The key files given with <paramref name="keyFlag"/> (repeatable) and the one folder.</summary>
    private static (List<string> Keys, string Directory) Options(IReadOnlyList<string> args, string keyFlag)
    {
        var keys = new List<string>();
        string? directory = null;
        for (var i = 2; i < args.Count; i++)
        {
            if (args[i] == keyFlag && i + 1 < args.Count)
            {
                keys.Add(args[++i]);
            }
            else if (args[i].StartsWith(keyFlag + "=", StringComparison.Ordinal))
            {
                keys.Add(args[i][(keyFlag.Length + 1)..]);
            }
            else if (directory is null && !args[i].StartsWith("--", StringComparison.Ordinal))
            {
                directory = args[i];
            }
            else
            {
                throw new ArgumentException($"unexpected argument '{args[i]}'");
            }
        }
        if (keys.Count == 0 || directory is null)
        {
            throw new ArgumentException($"needs {keyFlag} <pem> and a model version folder");
        }
        if (!System.IO.Directory.Exists(directory))
        {
            throw new ArgumentException($"{directory} is not a folder");
        }
        return (keys, directory);
    }

    private static int Sign((List<string> Keys, string Directory) options, TextWriter output)
    {
        if (options.Keys.Count != 1)
        {
            throw new ArgumentException("model sign takes one --key");
        }
        using var key = ModelSignature.ReadKey(options.Keys[0]);
        var hashes = ModelSignature.Sign(options.Directory, key);
        output.WriteLine($"signed {hashes.Count} files in {options.Directory}: {ModelSignature.ManifestFile}, {ModelSignature.SignatureFile}");
        return 0;
    }

    private static int Verify((List<string> Keys, string Directory) options, TextWriter output, TextWriter error)
    {
        var keys = options.Keys.Select(ModelSignature.ReadKey).ToList();
        try
        {
            var hashes = ModelSignature.Verify(options.Directory, keys);
            output.WriteLine($"{options.Directory}: signature good, {hashes.Count} files match");
            return 0;
        }
        catch (ModelSignatureException e)
        {
            error.WriteLine($"{options.Directory}: {e.Message}");
            return 1;
        }
        finally
        {
            foreach (var key in keys)
            {
                key.Dispose();
            }
        }
    }
}
