using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Fabrik.Security.Transport;

/// <summary>One CRL: its issuer name, validity window, revoked serial numbers and the signed bytes.</summary>
internal sealed class RevocationList
{
    private readonly byte[] _signedPart;
    private readonly byte[] _signature;
    private readonly HashAlgorithmName _hash;
    private readonly bool _rsa;
    private readonly HashSet<string> _revokedSerials;

    private RevocationList(X500DistinguishedName issuer, DateTimeOffset thisUpdate, DateTimeOffset? nextUpdate, HashSet<string> revokedSerials,
        byte[] signedPart, byte[] signature, HashAlgorithmName hash, bool rsa)
    {
        Issuer = issuer;
        ThisUpdate = thisUpdate;
        NextUpdate = nextUpdate;
        _revokedSerials = revokedSerials;
        _signedPart = signedPart;
        _signature = signature;
        _hash = hash;
        _rsa = rsa;
    }

    public X500DistinguishedName Issuer { get; }

    public DateTimeOffset ThisUpdate { get; }

    public DateTimeOffset? NextUpdate { get; }

    public int RevokedCount => _revokedSerials.Count;

    /// <summary>Whether <paramref name="certificate"/>'s serial number is on the list.</summary>
    public bool IsRevoked(X509Certificate2 certificate) => _revokedSerials.Contains(certificate.SerialNumber);

    /// <summary>Whether <paramref name="issuer"/> has this list's issuer name, may sign CRLs, and
    /// signed it.</summary>
    public bool IsIssuedBy(X509Certificate2 issuer)
    {
        if (!issuer.SubjectName.RawData.AsSpan().SequenceEqual(Issuer.RawData))
        {
            return false;
        }
        if (issuer.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } usage && (usage.KeyUsages & X509KeyUsageFlags.CrlSign) == 0)
        {
            return false;
        }
        if (_rsa)
        {
            using var rsa = issuer.GetRSAPublicKey();
            return rsa is not null && rsa.VerifyData(_signedPart, _signature, _hash, RSASignaturePadding.Pkcs1);
        }
        using var ecdsa = issuer.GetECDsaPublicKey();
        return ecdsa is not null && ecdsa.VerifyData(_signedPart, _signature, _hash, DSASignatureFormat.Rfc3279DerSequence);
    }

    /// <summary>Parses a DER CertificateList.</summary>
    /// <param name="der">The encoded list.</param>
    /// <param name="ordinal">Its place in the file, for messages.</param>
    /// <exception cref="CryptographicException">Not a CRL, or one with features not supported here.</exception>
    public static RevocationList Parse(byte[] der, int ordinal)
    {
        try
        {
            return ParseUnchecked(der);
        }
        catch (Exception e) when (e is AsnContentException or FormatException or ArgumentException)
        {
            throw new CryptographicException($"CRL {ordinal} is not a well-formed X.509 CRL: {e.Message}", e);
        }
        catch (CryptographicException e)
        {
            throw new CryptographicException($"CRL {ordinal}: {e.Message}", e);
        }
    }

    private static RevocationList ParseUnchecked(byte[] der)
    {
        // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
        var outer = new AsnReader(der, AsnEncodingRules.DER);
        var certificateList = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        var signedPart = certificateList.ReadEncodedValue().ToArray();
        var algorithm = certificateList.ReadSequence().ReadObjectIdentifier();
        var signature = certificateList.ReadBitString(out _);
        certificateList.ThrowIfNotEmpty();
        var (hash, rsa) = algorithm switch
        {
            "1.2.840.10045.4.3.2" => (HashAlgorithmName.SHA256, false),
            "1.2.840.10045.4.3.3" => (HashAlgorithmName.SHA384, false),
            "1.2.840.10045.4.3.4" => (HashAlgorithmName.SHA512, false),
            "1.2.840.113549.1.1.11" => (HashAlgorithmName.SHA256, true),
            "1.2.840.113549.1.1.12" => (HashAlgorithmName.SHA384, true),
            "1.2.840.113549.1.1.13" => (HashAlgorithmName.SHA512, true),
            _ => throw new CryptographicException($"the signature algorithm {algorithm} is not supported (ECDSA or RSA PKCS#1 with SHA-256/384/512 are)"),
        };

        // TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature, issuer Name, thisUpdate,
        //   nextUpdate OPTIONAL, revokedCertificates SEQUENCE OF ... OPTIONAL, [0] Extensions OPTIONAL }
        var tbs = new AsnReader(signedPart, AsnEncodingRules.DER).ReadSequence();
        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
        {
            tbs.ReadInteger();
        }
        if (tbs.ReadSequence().ReadObjectIdentifier() != algorithm)
        {
            throw new CryptographicException("the signed and the outer signature algorithms differ");
        }
        var issuer = new X500DistinguishedName(tbs.ReadEncodedValue().Span);
        var thisUpdate = ReadTime(tbs);
        DateTimeOffset? nextUpdate = tbs.HasData && IsTime(tbs.PeekTag()) ? ReadTime(tbs) : null;
        var revoked = new HashSet<string>(StringComparer.Ordinal);
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            var entries = tbs.ReadSequence();
            while (entries.HasData)
            {
                var entry = entries.ReadSequence();
                revoked.Add(Convert.ToHexString(entry.ReadIntegerBytes().Span));
                ReadTime(entry);
                if (entry.HasData)
                {
                    RefuseCriticalExtensions(entry.ReadSequence(), "an entry");
                }
            }
        }
        if (tbs.HasData)
        {
            var extensions = tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0));
            RefuseCriticalExtensions(extensions.ReadSequence(), "the list");
            extensions.ThrowIfNotEmpty();
        }
        tbs.ThrowIfNotEmpty();
        return new RevocationList(issuer, thisUpdate, nextUpdate, revoked, signedPart, signature, hash, rsa);
    }

    /// <summary>RFC 5280: a CRL with a critical extension the reader does not process must not be
    /// used. None is processed here (delta, indirect and partitioned lists are not supported).</summary>
    private static void RefuseCriticalExtensions(AsnReader extensions, string where)
    {
        while (extensions.HasData)
        {
            var extension = extensions.ReadSequence();
            var oid = extension.ReadObjectIdentifier();
            if (extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && extension.ReadBoolean())
            {
                throw new CryptographicException($"{where} has the critical extension {oid}, which is not supported (delta, indirect and partitioned CRLs are not)");
            }
        }
    }

    private static bool IsTime(Asn1Tag tag) =>
        tag.HasSameClassAndValue(Asn1Tag.UtcTime) || tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime);

    private static DateTimeOffset ReadTime(AsnReader reader) =>
        reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();
}
