using System.CommandLine;
using RootfsForge.Hub;
using RootfsForge.Sinks.Hub;
using RootfsForge.Sinks;
using RootfsForge.Sinks.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary>
/// The options of commands that write a tree (<c>extract</c>, <c>vm</c>): <c>--store</c> for <c>.fl</c> outputs and
/// <c>--hub</c>/<c>--token-file</c> for <c>hub:NAME</c> outputs.
/// </summary>
internal sealed class OutputOptions
{
    public Option<string[]> Stores { get; } = StoreOption(
        "Block store for a .fl output, repeatable: [xx-yy=]URL with URL dir:///path, zdb://[user[:password]@]host[:port][/ns], " +
        "s3://KEY:SECRET@host:port/bucket?region=R or s3s://…; every block goes to every store covering its id's first byte.");

    public Option<string?> Hub { get; } = new("--hub") { Description = "The 0-hub's base URL for a hub:NAME output, e.g. https://hub.grid.tf." };

    public Option<string?> TokenFile { get; } = TokenFileOption();

    public Option<string?> PublishDir { get; } = PublishOption();

    public void AddTo(Command command)
    {
        command.Options.Add(Stores);
        command.Options.Add(PublishDir);
        command.Options.Add(Hub);
        command.Options.Add(TokenFile);
    }

    /// <summary>Opens the stores or hub client <paramref name="output"/> needs, refusing options that do not fit it.</summary>
    public OutputTargets Open(ParseResult parse, string output)
    {
        string[] stores = parse.GetValue(Stores) ?? [];
        string? hub = parse.GetValue(Hub);
        bool isFlist = SinkFactory.IsFlist(output), isHub = SinkFactory.IsHub(output);
        if (isFlist && stores.Length == 0) throw new UsageException($"the output '{output}' is a .fl flist: give at least one --store");
        if (!isFlist && stores.Length > 0) throw new UsageException("--store applies only to a .fl output");
        string? publish = parse.GetValue(PublishDir);
        if (publish is not null && !isFlist) throw new UsageException("--publish applies only to a .fl output");
        if (publish is not null && !Directory.Exists(publish)) throw new UsageException($"--publish directory '{publish}' does not exist");
        if (isHub && hub is null) throw new UsageException($"the output '{output}' uploads to the hub: give --hub URL");
        if (!isHub && hub is not null) throw new UsageException("--hub applies only to a hub:NAME output");
        if (isHub && output.Length == SinkFactory.HubPrefix.Length) throw new UsageException("hub: needs a flist name (hub:NAME)");
        var routes = OpenStores(stores, required: false);
        HubClient? client = isHub ? OpenHub(hub!, parse.GetValue(TokenFile)) : null;
        return new OutputTargets(routes, client, publish);
    }

    public static Option<string?> PublishOption() => new("--publish")
    {
        Description = "After writing a .fl, copy it into this directory (served by a web server ZOS fetches from).",
    };

    /// <summary>Copies the finished .fl into <paramref name="dir"/> under a temporary name, then renames it into place.</summary>
    public static void Publish(string fl, string dir, bool quiet = false)
    {
        if (!Directory.Exists(dir)) throw new UsageException($"--publish directory '{dir}' does not exist");
        using (var target = new RootfsForge.IO.AtomicFile(Path.Combine(dir, Path.GetFileName(fl))))
        {
            using (var src = File.OpenRead(fl)) src.CopyTo(target.Stream);
            target.Commit();
        }
        if (!quiet) Console.Error.WriteLine($"rootfsforge: published {Path.Combine(dir, Path.GetFileName(fl))}");
    }

    public static Option<string[]> StoreOption(string description) => new("--store", "-s")
    {
        Description = description,
        AllowMultipleArgumentsPerToken = false,
    };

    public static Option<string?> TokenFileOption() => new("--token-file")
    {
        Description = $"A file holding the hub token (else the {HubClient.TokenVariable} environment variable). Tokens are never taken from the command line.",
    };

    public static HubClient OpenHub(string url, string? tokenFile)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var hubUri) || hubUri.Scheme is not ("http" or "https"))
            throw new UsageException("--hub must be an http(s) URL");
        if (!hubUri.AbsolutePath.EndsWith('/')) hubUri = new Uri(hubUri + "/");
        try
        {
            return new HubClient(hubUri, HubClient.ResolveToken(tokenFile));
        }
        catch (Exception e) when (e is InvalidOperationException or InvalidDataException or FileNotFoundException)
        {
            throw new UsageException(e.Message);
        }
    }

    public static List<BlockStoreRoute> OpenStores(string[]? specs, bool required = true)
    {
        if ((specs is null || specs.Length == 0) && required) throw new UsageException("at least one --store is needed");
        var routes = new List<BlockStoreRoute>();
        try
        {
            foreach (var s in specs ?? []) routes.Add(BlockStoreRoute.Parse(s));
        }
        catch (ArgumentException e)
        {
            DisposeStores(routes);
            throw new UsageException(StoreUrl.Redact(e.Message));
        }
        return routes;
    }

    public static void DisposeStores(IEnumerable<BlockStoreRoute> routes)
    {
        foreach (var r in routes) r.Store.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Warns about routes ZOS cannot read from: a local directory, or a loopback address.</summary>
    public static void WarnUnreachable(IEnumerable<BlockStoreRoute> routes)
    {
        foreach (var r in routes)
        {
            string url = r.Store.Url;
            if (url.StartsWith("dir://", StringComparison.Ordinal))
                Console.Error.WriteLine($"rootfsforge: warning: route {url} is a local directory; ZOS cannot read it (use zdb:// or s3://)");
            else if (url.Contains("://localhost", StringComparison.OrdinalIgnoreCase) || url.Contains("@localhost", StringComparison.OrdinalIgnoreCase)
                     || url.Contains("127.0.0.1", StringComparison.Ordinal) || url.Contains("[::1]", StringComparison.Ordinal))
                Console.Error.WriteLine($"rootfsforge: warning: route {url} points at loopback; ZOS nodes cannot reach it");
        }
    }

    /// <summary>The line summarising a finished <c>.fl</c> build: files, blocks, bytes, dedup, time.</summary>
    public static string FlistSummary(string path, FlistSink sink)
    {
        var b = sink.Blocks;
        return $"rootfsforge: {path}: {sink.Statistics.Entries} entries, {b.Files} files, {b.Blocks} blocks, " +
               $"{b.BytesIn} bytes in, {b.BytesStored} bytes stored, {b.BlocksAlreadyPresent} block writes skipped (already present), " +
               $"{b.BlocksDuplicate} duplicate chunks, {sink.Statistics.SkippedSockets} sockets skipped, " +
               $"{sink.Statistics.DroppedAttributes} xattrs dropped, {b.Elapsed.TotalSeconds:F1} s" +
               (b.Elapsed.TotalSeconds > 0 ? $" ({b.BytesIn / b.Elapsed.TotalSeconds / 1e6:F0} MB/s)" : "");
    }
}

/// <summary>The stores or hub client one output needs; disposed after the sink.</summary>
internal sealed class OutputTargets(List<BlockStoreRoute> routes, HubClient? hub, string? publishDir) : IDisposable
{
    public IReadOnlyList<BlockStoreRoute> Routes => routes;

    public HubClient? Hub => hub;

    /// <summary><paramref name="options"/> with this output's stores and hub client.</summary>
    public SinkOptions Apply(SinkOptions options) => new()
    {
        MtimeClamp = options.MtimeClamp,
        CompressionLevel = options.CompressionLevel,
        CompressionThreads = options.CompressionThreads,
        AllowNonEmptyDirectory = options.AllowNonEmptyDirectory,
        StandardOutput = options.StandardOutput,
        Tags = options.Tags,
        Stores = routes,
        Hub = hub,
    };

    /// <summary>
    /// Prints what the finished sink did beyond the common summary (blocks and dedup, or the hub's answer) and publishes a
    /// finished <c>.fl</c> when asked.
    /// </summary>
    public void Finish(TreeSink sink, string output, bool quiet = false)
    {
        if (sink is FlistSink && publishDir is not null) OutputOptions.Publish(output, publishDir, quiet);
        if (quiet) return;
        switch (sink)
        {
            case FlistSink fl:
                Console.Error.WriteLine(OutputOptions.FlistSummary(output, fl));
                OutputOptions.WarnUnreachable(routes);
                break;
            case HubSink h when h.Result is { } r:
                Console.Error.WriteLine($"rootfsforge: uploaded {output[SinkFactory.HubPrefix.Length..]}.tar.gz; the hub made {r.Name}");
                break;
        }
    }

    public void Dispose()
    {
        OutputOptions.DisposeStores(routes);
        hub?.Dispose();
    }
}
