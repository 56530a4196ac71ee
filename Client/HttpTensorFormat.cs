namespace Fabrik.Client;

/// <summary>How tensors travel over HTTP.</summary>
public enum HttpTensorFormat
{
    /// <summary>The binary tensor extension: a JSON header (its length in
    /// <c>Inference-Header-Content-Length</c>) and then the tensors' raw bytes, both ways. The
    /// fast choice; Triton and Fabrik both support it.</summary>
    Binary,

    /// <summary>Plain JSON: every element written out as a JSON value. For servers without the
    /// binary extension. A BYTES input that is not valid UTF-8 still travels as binary data, since
    /// JSON strings cannot hold it.</summary>
    Json,
}
