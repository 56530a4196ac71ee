namespace Fabrik.Protocol.OpenAi;

/// <summary>
/// A refusal in OpenAI's terms: the HTTP status and the error object's <c>type</c>, <c>param</c>
/// (the request field at fault, or null) and <c>code</c> (or null), with a message for the client.
/// </summary>
internal sealed class OpenAiException(int status, string type, string message, string? param = null, string? code = null) : Exception(message)
{
    public const string InvalidRequest = "invalid_request_error";

    public int Status { get; } = status;

    public string Type { get; } = type;

    public string? Param { get; } = param;

    public string? Code { get; } = code;

    /// <summary>400: the request is wrong in the field <paramref name="param"/>.</summary>
    public static OpenAiException Invalid(string message, string? param = null, string? code = null) => new(400, InvalidRequest, message, param, code);

    /// <summary>404: no embedding model of that name is served.</summary>
    public static OpenAiException ModelNotFound(string model) =>
        new(404, InvalidRequest, $"The model '{model}' does not exist or is not an embedding model", "model", "model_not_found");
}
