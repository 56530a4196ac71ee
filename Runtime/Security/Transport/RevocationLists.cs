using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Fabrik.Security.Transport;

/// <summary>
/// Certificate revocation lists (X.509 CRLs, RFC 5280) read from a file, for refusing revoked
/// client certificates without the network. .NET's chain builder on Linux only consults CRLs it
/// downloads itself (or cached from a download), so the lists are parsed here with
/// <see cref="AsnReader"/>: each list's signature is checked against the issuing CA taken from the
/// built chain, its validity window against the clock, and the client certificate's serial number
/// against its entries. Immutable once read; a reload builds a new instance.
/// </summary>
internal sealed class RevocationLists
{
    private RevocationLists(string path, IReadOnlyList<RevocationList> lists)
    {
        Path = path;
        Lists = lists;
    }

    /// <summary>The file the lists were read from.</summary>
    public string Path { get; }

    public IReadOnlyList<RevocationList> Lists { get; }

    /// <summary>Reads every CRL of a file: PEM blocks labelled <c>X509 CRL</c> (several, one per CA,
    /// may follow each other), or a single DER-encoded CRL.</summary>
    /// <exception cref="CryptographicException">The file holds no CRL, or one that cannot be used; the message says which.</exception>
    public static RevocationLists Load(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var text = System.Text.Encoding.ASCII.GetString(bytes);
        var lists = new List<RevocationList>();
        var rest = text.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            if (rest[fields.Label].SequenceEqual("X509 CRL"))
            {
                lists.Add(RevocationList.Parse(Convert.FromBase64String(rest[fields.Base64Data].ToString()), lists.Count + 1));
            }
            rest = rest[fields.Location.End..];
        }
        if (lists.Count == 0 && bytes.Length > 0 && bytes[0] == 0x30)
        {
            lists.Add(RevocationList.Parse(bytes, 1));
        }
        return lists.Count > 0 ? new RevocationLists(path, lists) : throw new CryptographicException($"{path} holds no X509 CRL");
    }

    /// <summary>Whether every certificate of a built chain below its root is covered by a current
    /// CRL from its issuer (signed by that issuer) and is not on it.</summary>
    /// <param name="chain">A chain that was built and trusted (leaf first, root last).</param>
    /// <param name="now">The time to judge the lists' validity by.</param>
    /// <returns>Null when the chain is good; otherwise why it is refused.</returns>
    public string? Check(X509Chain chain, DateTimeOffset now)
    {
        var elements = chain.ChainElements;
        for (var i = 0; i + 1 < elements.Count; i++)
        {
            var certificate = elements[i].Certificate;
            var issuer = elements[i + 1].Certificate;
            RevocationList? current = null;
            foreach (var list in Lists)
            {
                if (list.IsIssuedBy(issuer) && (current is null || list.ThisUpdate > current.ThisUpdate))
                {
                    current = list;
                }
            }
            if (current is null)
            {
                return $"no CRL signed by '{issuer.Subject}' is loaded, so the revocation status of '{certificate.Subject}' is unknown";
            }
            if (current.ThisUpdate > now)
            {
                return $"the CRL of '{issuer.Subject}' is not valid before {current.ThisUpdate:u}";
            }
            if (current.NextUpdate is { } next && next < now)
            {
                return $"the CRL of '{issuer.Subject}' expired at {next:u}";
            }
            if (current.IsRevoked(certificate))
            {
                return $"the certificate '{certificate.Subject}' (serial {certificate.SerialNumber}) is revoked";
            }
        }
        return null;
    }
}
