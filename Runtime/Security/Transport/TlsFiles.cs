namespace Fabrik.Security.Transport;

/// <summary>A certificate and key (PEM files) for one TLS listener, the CA that client
/// certificates must chain to when mutual TLS is on, and the CRLs that revoke client certificates.</summary>
internal sealed record TlsFiles(string CertificatePath, string KeyPath, string? ClientCaPath, string? ClientCrlPath = null);
