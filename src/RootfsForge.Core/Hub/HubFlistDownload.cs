namespace RootfsForge.Hub;

/// <summary>
/// Downloads a published flist from a hub: <c>GET {hub}/{user}/{name}</c>, the public path the hub serves flists at
/// (no token: published flists are public). The file is written to a temporary name and renamed, so a failed download
/// leaves nothing.
/// </summary>
public static class HubFlistDownload
{
    /// <summary>The most bytes accepted: a .fl holds metadata only (blocks live in stores).</summary>
    public const long MaxBytes = 1L << 30;

    /// <summary>Downloads <paramref name="user"/>/<paramref name="name"/> from <paramref name="hub"/> to <paramref name="destination"/>.</summary>
    /// <exception cref="HttpRequestException">The hub answered with an error (404: no such flist) or could not be reached.</exception>
    public static async Task DownloadAsync(Uri hub, string user, string name, string destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hub);
        if (string.IsNullOrEmpty(user) || user.Contains('/') || user is "." or "..")
            throw new ArgumentException($"'{user}' is not a hub user name", nameof(user));
        if (string.IsNullOrEmpty(name) || name.Contains('/') || name is "." or "..")
            throw new ArgumentException($"'{name}' is not a flist name", nameof(name));
        var url = new Uri(hub, $"{Uri.EscapeDataString(user)}/{Uri.EscapeDataString(name)}");
        using var http = new HttpClient();
        using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"{url}: the hub answered {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
        if (response.Content.Headers.ContentLength > MaxBytes)
            throw new HttpRequestException($"{url}: {response.Content.Headers.ContentLength} bytes is more than a flist's {MaxBytes}");
        string temp = destination + ".part";
        try
        {
            await using (var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false))
            await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
            {
                var buffer = new byte[1 << 16];
                long total = 0;
                int n;
                while ((n = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    total += n;
                    if (total > MaxBytes) throw new HttpRequestException($"{url}: more than a flist's {MaxBytes} bytes");
                    await file.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                }
            }
            File.Move(temp, destination, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
