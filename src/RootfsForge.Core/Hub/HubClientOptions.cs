namespace RootfsForge.Hub;

/// <summary>Bounds of a <see cref="HubClient"/>'s waits (docs/flist-format.md §9).</summary>
public sealed record HubClientOptions
{
    /// <summary>One upload request: sending the archive and receiving the hub's answer. Default 30 minutes.</summary>
    public TimeSpan UploadTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Following an asynchronous conversion job at <c>/listen/&lt;id&gt;</c> to its end. Default 30 minutes.</summary>
    public TimeSpan JobTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>After the hub reported success, waiting for the flist to be downloadable. Default 2 minutes.</summary>
    public TimeSpan PublishTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>How often a job's progress stream that ended or broke before the job's result is reopened. Default 5.</summary>
    public int MaxStreamReconnects { get; init; } = 5;
}
