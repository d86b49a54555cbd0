using RootfsForge.Sources.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Json;

/// <summary>The <c>rootfsforge.fl-info/v1</c> document.</summary>
internal static class FlResults
{
    public static async Task<FlInfoResult> InfoAsync(string path, FlistInfo i, Reporter r, CancellationToken cancellationToken)
    {
        var (bytes, sha) = await Results.HashFileAsync(path, cancellationToken).ConfigureAwait(false);
        var tags = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in i.Tags) tags[TreePath.Printable(t.Key)] = TreePath.Printable(t.Value);
        return new FlInfoResult(JsonResultWriter.Schema("fl-info"), path, bytes, sha, i.Inodes, i.Directories, i.Files, i.Symlinks,
            i.Other, i.BlockRows, i.ContentBytes, i.FilesWithWrongBlockCount, i.Unreachable,
            i.Routes.Select(x => new RouteResult($"{x.Start:x2}", $"{x.End:x2}", TreePath.Printable(StoreUrl.Redact(x.Url)))).ToList(),
            tags, r.Warnings);
    }
}
