namespace RootfsForge.Stores;

/// <summary>Opens block stores by URL (docs/flist-format.md §6).</summary>
public static class BlockStore
{
    /// <summary>
    /// Opens <c>dir:///path</c>, <c>zdb://[user[:password]@]host[:port][/namespace]</c>,
    /// <c>s3://KEY:SECRET@host:port/bucket?region=R</c>, <c>s3s://…</c> or (read-only) <c>http(s)://host/prefix</c>.
    /// Nothing is contacted until the first request.
    /// </summary>
    public static IBlockStore Open(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        int colon = url.IndexOf("://", StringComparison.Ordinal);
        string scheme = colon < 0 ? "" : url[..colon].ToLowerInvariant();
        return scheme switch
        {
            "dir" => DirectoryBlockStore.Open(url),
            "zdb" => ZdbBlockStore.Open(url),
            "s3" or "s3s" => S3BlockStore.Open(url),
            "http" or "https" => HttpBlockStore.Open(url),
            _ => throw new ArgumentException(
                $"unknown store '{StoreUrl.Redact(url)}': expected dir://, zdb://, s3://, s3s://, http:// or https://"),
        };
    }
}
