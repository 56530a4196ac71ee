namespace Fabrik.Tests.Client;

/// <summary>The three ways a <see cref="Fabrik.Client.FabrikClient"/> talks to a server.</summary>
public enum ClientMode
{
    HttpJson,
    HttpBinary,
    Grpc,
}
