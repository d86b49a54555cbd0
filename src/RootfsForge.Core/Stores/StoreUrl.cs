namespace RootfsForge.Stores;

/// <summary>
/// The one place that removes secrets from store and hub URLs (docs/flist-format.md §7): the password of the userinfo
/// (the user name stays; for S3 it is the access key id) and <c>token=</c> query parameters.
/// </summary>
internal static class StoreUrl
{
    /// <summary>The URL without its password and tokens; text that is not a URL is returned with any userinfo removed.</summary>
    public static string Redact(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        int scheme = url.IndexOf("://", StringComparison.Ordinal);
        int start = scheme < 0 ? 0 : scheme + 3;
        int end = url.IndexOfAny(['/', '?', '#'], start);
        if (end < 0) end = url.Length;
        string authority = url[start..end];
        int at = authority.LastIndexOf('@');
        string rest = url[end..];
        if (at >= 0)
        {
            string user = authority[..at];
            int colon = user.IndexOf(':');
            if (colon >= 0) user = user[..colon];
            authority = (user.Length == 0 ? "" : user + "@") + authority[(at + 1)..];
        }
        return url[..start] + authority + RedactQuery(rest);
    }

    /// <summary>Replaces every occurrence of <paramref name="secrets"/> in <paramref name="text"/> (log lines, messages).</summary>
    public static string Scrub(string text, params ReadOnlySpan<string?> secrets)
    {
        foreach (var s in secrets)
            if (!string.IsNullOrEmpty(s)) text = text.Replace(s, "***", StringComparison.Ordinal);
        return text;
    }

    private static string RedactQuery(string rest)
    {
        int q = rest.IndexOf('?');
        if (q < 0) return rest;
        int hash = rest.IndexOf('#', q);
        string query = hash < 0 ? rest[(q + 1)..] : rest[(q + 1)..hash];
        var kept = query.Split('&').Where(p => !p.StartsWith("token=", StringComparison.OrdinalIgnoreCase)
                                               && !p.StartsWith("secret=", StringComparison.OrdinalIgnoreCase)
                                               && !p.StartsWith("password=", StringComparison.OrdinalIgnoreCase));
        string joined = string.Join('&', kept);
        return rest[..q] + (joined.Length > 0 ? "?" + joined : "") + (hash < 0 ? "" : rest[hash..]);
    }

    /// <summary>Splits a URL's userinfo into user and password (percent-decoded); both null when absent.</summary>
    internal static (string? User, string? Password) UserInfo(Uri uri)
    {
        if (string.IsNullOrEmpty(uri.UserInfo)) return (null, null);
        int colon = uri.UserInfo.IndexOf(':');
        return colon < 0
            ? (Uri.UnescapeDataString(uri.UserInfo), null)
            : (Uri.UnescapeDataString(uri.UserInfo[..colon]), Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]));
    }
}
