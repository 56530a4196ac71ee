using Fabrik.Security.Access;
using Xunit;

namespace Fabrik.Tests.Security;

/// <summary>
/// Client-certificate subjects mapped in the key file: matched however .NET spaces the relative
/// names, the first entry winning where two map one subject, and looked up without allocating
/// (it runs on every request of a certificate caller).
/// </summary>
public sealed class ApiKeyFileSubjectTests
{
    private static readonly ApiKeyFile File = ApiKeyFile.Parse("""
        {"keys": [
          {"id": "pipeline", "subject": "CN=pipeline,O=Site", "scopes": ["infer:*"]},
          {"id": "second", "subject": " CN=pipeline , O=Site ", "scopes": ["metadata"]},
          {"id": "ops", "subject": "CN=ops, O=Site, C=DE", "scopes": ["admin"]},
          {"id": "bearer", "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "scopes": ["metadata"]}
        ]}
        """);

    [Theory]
    [InlineData("CN=pipeline, O=Site", "pipeline")]
    [InlineData("CN=pipeline,O=Site", "pipeline")]
    [InlineData("CN=ops, O=Site, C=DE", "ops")]
    [InlineData("CN=ops,,O=Site,  C=DE", "ops")]
    [InlineData("CN=ops, O=Site", null)]
    [InlineData("CN=pipeline, O=Site, C=DE", null)]
    [InlineData("", null)]
    public void FindBySubject_MatchesTheNormalisedSubject(string subject, string? expected) =>
        Assert.Equal(expected, File.FindBySubject(subject)?.Id);

    [Fact]
    public void FindBySubject_LongSubjects_AreLookedUpToo()
    {
        var longName = "CN=" + new string('x', 2000);
        var file = ApiKeyFile.Parse($$"""{"keys": [{"id": "long", "subject": "{{longName}}, O=Site", "scopes": ["metadata"]}]}""");
        Assert.Equal("long", file.FindBySubject(longName + ",O=Site")?.Id);
        Assert.Null(file.FindBySubject(longName));
    }

    /// <summary>The normalisation the lookup had before it stopped allocating, as the reference.</summary>
    private static string Reference(string subject) =>
        string.Join(",", subject.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));

    [Theory]
    [InlineData("CN=a,\tO=b\t")]
    [InlineData("CN=a,\u00a0O=b\u00a0")]
    [InlineData(",CN=a,O=b,")]
    [InlineData("CN=a")]
    [InlineData(511)]
    [InlineData(512)]
    [InlineData(513)]
    [InlineData(4000)]
    public void FindBySubject_AgreesWithTheStringNormalisation_AroundTheStackBuffer(object input)
    {
        // A subject of the given length (around the 512-character stack buffer) or text.
        var subject = input is int length ? "CN=" + new string('y', length - 11) + ", O=Site" : (string)input;
        if (input is int exact)
        {
            Assert.Equal(exact, subject.Length);
        }
        var normalized = Reference(subject);
        var file = ApiKeyFile.Parse($$"""{"keys": [{"id": "k", "subject": {{System.Text.Json.JsonSerializer.Serialize(subject)}}, "scopes": ["metadata"]}]}""");
        var spaced = string.Join(" , ", normalized.Split(','));
        Assert.Equal("k", file.FindBySubject(spaced)?.Id);
        Assert.Equal("k", file.FindBySubject(subject)?.Id);
        Assert.Null(file.FindBySubject(normalized + ",C=XX"));
    }

    [Theory]
    [InlineData("")]
    [InlineData(",,,")]
    [InlineData(" , ")]
    public void ASubjectNamingNothing_IsRefusedWhenTheFileIsRead(string subject)
    {
        // It would otherwise match a client certificate whose subject is empty.
        var error = Assert.Throws<FormatException>(() => ApiKeyFile.Parse($$"""{"keys": [{"id": "k", "subject": "{{subject}}", "scopes": ["metadata"]}]}"""));
        Assert.Equal("key 'k': \"subject\" names no relative name (for example \"CN=client, O=Site\")", error.Message);
    }

    [Fact]
    public void FindBySubject_AllocatesNothing()
    {
        const string Subject = "CN=ops, O=Site, C=DE";
        Assert.Equal("ops", File.FindBySubject(Subject)?.Id); // warm: the lookup's first use may set itself up
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            File.FindBySubject(Subject);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
