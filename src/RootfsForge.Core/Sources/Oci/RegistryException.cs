using System.Net;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// A registry refused a request or could not be reached (after retries): authentication failed, the repository, tag or
/// blob does not exist, or the connection failed. Corrupt content is an <see cref="ImageFormatException"/> instead.
/// The message never holds credentials or tokens.
/// </summary>
public sealed class RegistryException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed, naming the registry and the object.</param>
    /// <param name="statusCode">The HTTP status of the last answer, if there was one.</param>
    /// <param name="errorCode">The registry's error code (<c>MANIFEST_UNKNOWN</c>, <c>UNAUTHORIZED</c>, …), if it sent one.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    public RegistryException(string message, HttpStatusCode? statusCode = null, string? errorCode = null, Exception? inner = null)
        : base(message, inner)
    {
        StatusCode = statusCode;
        ErrorCode = errorCode;
    }

    /// <summary>The HTTP status of the last answer, if there was one.</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>The registry's error code from its JSON error body, if any.</summary>
    public string? ErrorCode { get; }
}
