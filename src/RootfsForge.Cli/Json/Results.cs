using System.Security.Cryptography;
using RootfsForge.Cli.Commands;
using RootfsForge.Hub;
using RootfsForge.Lint;
using RootfsForge.Sinks;
using RootfsForge.Sinks.Flist;
using RootfsForge.Sinks.Hub;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Json;

/// <summary>The parts of result documents several commands share, made from the library's types in one place.</summary>
internal static class Results
{
    public static TreeResult Tree(SinkStatistics s) => new(s.Entries, s.ContentBytes, s.SkippedSockets, s.DroppedAttributes);

    /// <summary>The written output; a file output is hashed (read back once) only when a document is wanted.</summary>
    public static async Task<OutputResult> OutputAsync(OutputTargets outputs, TreeSink sink, CancellationToken cancellationToken)
    {
        var spec = outputs.Spec;
        string kind = spec.Kind switch
        {
            OutputKind.TarFile => "tar",
            OutputKind.StandardOutput => "stdout",
            OutputKind.Directory => "directory",
            OutputKind.Flist => "fl",
            _ => "hub",
        };
        string path = spec.Kind is OutputKind.Hub or OutputKind.StandardOutput ? spec.Path : Path.GetFullPath(spec.Path);
        string? compression = spec.Kind is OutputKind.TarFile or OutputKind.StandardOutput ? spec.Compression.ToString().ToLowerInvariant() : null;
        long? bytes = null;
        string? sha = null;
        if (spec.Kind is OutputKind.TarFile or OutputKind.Flist)
            (bytes, sha) = await HashFileAsync(path, cancellationToken).ConfigureAwait(false);
        FlistBlocksResult? fl = sink is FlistSink f ? Blocks(f.Blocks, outputs.Routes.Select(r => r.Store.Url)) : null;
        HubResult? hub = sink is HubSink { Result: { } r } ? Hub(r) : null;
        return new OutputResult(kind, path, compression, bytes, sha, outputs.Published, fl, hub);
    }

    public static FlistBlocksResult Blocks(FlistStatistics b, IEnumerable<string> storeUrls) =>
        new(b.Files, b.Blocks, b.BytesIn, b.BytesStored, b.BlocksUploaded, b.BlocksAlreadyPresent, b.BlocksDuplicate, b.BlocksKnown,
            storeUrls.Select(StoreUrl.Redact).ToList());

    public static HubResult Hub(HubUploadResult r) => new(r.Name, r.User, r.FlistUrl?.ToString(), r.Md5, r.JobId);

    public static LintResult Lint(LintReport report) =>
        new(report.Passed,
            report.Errors.Count(),
            report.Findings.Count(f => !f.Passed && f.Severity == LintSeverity.Warning),
            report.Findings.Select(f => new LintFindingResult(f.Id, f.Severity.ToString().ToLowerInvariant(), f.Passed, f.Message)).ToList());

    public static double Seconds(TimeSpan t) => Math.Round(t.TotalSeconds, 3);

    /// <summary>Size and SHA-256 (lowercase hex) of a file.</summary>
    public static async Task<(long Bytes, string Sha256)> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        byte[] hash = await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return (stream.Length, Convert.ToHexStringLower(hash));
    }
}
