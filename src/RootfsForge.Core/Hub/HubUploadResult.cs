namespace RootfsForge.Hub;

/// <summary>A successful upload: the hub made the flist and it can be downloaded.</summary>
/// <param name="Name">The flist name the hub reports (e.g. <c>myimage.flist</c>).</param>
/// <param name="Response">The hub's JSON answer to the upload (the job's last event for an asynchronous upload).</param>
public sealed record HubUploadResult(string Name, string Response)
{
    /// <summary>The job id, when the hub converted the upload asynchronously.</summary>
    public string? JobId { get; init; }

    /// <summary>The repository (user) the flist was published under.</summary>
    public string? User { get; init; }

    /// <summary>Where the flist is downloaded from (what ZOS fetches), e.g. <c>https://hub.grid.tf/user/name.flist</c>.</summary>
    public Uri? FlistUrl { get; init; }

    /// <summary>The flist's MD5 as the hub publishes it at <c>.flist.md5</c>.</summary>
    public string? Md5 { get; init; }
}

/// <summary>A progress report of the hub's conversion job (its <c>update</c> events).</summary>
/// <param name="Message">The hub's text, e.g. <c>Building: processing item 3 of 10</c>.</param>
/// <param name="Percent">The hub's percentage, when it gave one.</param>
public readonly record struct HubProgress(string Message, int? Percent);
