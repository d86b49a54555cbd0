namespace RootfsForge.Hub;

/// <summary>The hub refused or failed a request, or its conversion job failed. The message never contains the token.</summary>
public sealed class HubException : IOException
{
    /// <summary>Creates the exception.</summary>
    public HubException(string message, int? statusCode = null, Exception? inner = null) : base(message, inner) =>
        StatusCode = statusCode;

    /// <summary>The HTTP status, when the hub answered.</summary>
    public int? StatusCode { get; }
}
