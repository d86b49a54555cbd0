using System.CommandLine;
using RootfsForge.Hub;
using RootfsForge.Sinks;
using RootfsForge.Sinks.Flist;
using RootfsForge.Sinks.Hub;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary>
/// The options of commands that write a tree (<c>extract</c>, <c>vm</c>, <c>fl extract</c>): <c>--store</c> for
/// <c>.fl</c> outputs, <c>--hub</c>/<c>--token-file</c> for <c>hub:NAME</c> outputs, <c>--publish</c>, <c>--force</c>.
/// <see cref="Open"/> checks all of them before any work starts.
/// </summary>
internal sealed class OutputOptions
{
    public Option<string[]> Stores { get; } = StoreOption(
        "Block store for a .fl output (repeatable): [xx-yy=]URL with URL dir:///path, zdb://[user[:password]@]host[:port][/ns], " +
        "s3://[KEY:SECRET@]host:port/bucket?region=R or s3s://…; every block goes to every store covering its id's first byte. Credentials: see --store-secrets.");

    public Option<string?> Hub { get; } = new("--hub") { Description = "The 0-hub's base URL for a hub:NAME output, e.g. https://hub.grid.tf.", HelpName = "URL" };

    /// <summary>The help text of <c>-o</c> for commands that write a tree (extract, container, vm), without its final period.</summary>
    public const string OutputDescription =
        "Where to write: X.tar, X.tar.gz (or X.tgz), X.tar.zst, - (tar on standard output), X.fl (with --store), hub:NAME (with --hub), " +
        "or a directory that does not exist or is empty";

    /// <summary><c>--mtime-clamp</c>, the same on every command that writes a tree (read with <see cref="ParseClamp"/>).</summary>
    public static Option<string?> MtimeClampOption() => new("--mtime-clamp")
    {
        Description = "Clamp every modification time to TIME (Unix seconds or ISO 8601) (default: $SOURCE_DATE_EPOCH when set).",
        HelpName = "TIME",
    };

    public Option<string?> TokenFile { get; } = TokenFileOption();

    public Option<string?> PublishDir { get; } = PublishOption();

    public Option<bool> Force { get; } = new("--force", "-f") { Description = "Replace an output that exists (a file or a non-empty directory)." };

    public void AddTo(Command command)
    {
        command.Options.Add(Stores);
        command.Options.Add(PublishDir);
        command.Options.Add(Hub);
        command.Options.Add(TokenFile);
        command.Options.Add(Force);
    }

    /// <summary>
    /// Parses <paramref name="output"/> and opens the stores or hub client it needs, refusing (exit 2) options that do not
    /// fit it, store routes that cannot take a build, and an existing output without --force — all before any work.
    /// </summary>
    public OutputTargets Open(ParseResult parse, string? output, SinkFactoryOptions? options = null)
    {
        var spec = ParseOutput(output);
        string[] stores = parse.GetValue(Stores) ?? [];
        string? hub = parse.GetValue(Hub);
        bool isFlist = spec.Kind == OutputKind.Flist, isHub = spec.Kind == OutputKind.Hub;
        if (isFlist && stores.Length == 0) throw new UsageException($"the output '{spec}' is a .fl flist: give at least one --store");
        if (!isFlist && stores.Length > 0) throw new UsageException("--store applies only to a .fl output");
        string? publish = parse.GetValue(PublishDir);
        if (publish is not null && !isFlist) throw new UsageException("--publish applies only to a .fl output");
        if (publish is not null && !Directory.Exists(publish)) throw new UsageException($"--publish directory '{publish}' does not exist");
        if (isHub && hub is null) throw new UsageException($"the output '{spec}' uploads to the hub: give --hub URL");
        if (!isHub && hub is not null) throw new UsageException("--hub applies only to a hub:NAME output");
        var routes = OpenStores(stores, required: false);
        HubClient? client = null;
        try
        {
            client = isHub ? OpenHub(hub!, parse.GetValue(TokenFile)) : null;
            options ??= new SinkFactoryOptions();
            options = options with
            {
                Overwrite = parse.GetValue(Force),
                Flist = isFlist
                    ? (options.Flist ?? new FlistSinkOptions()) with { Stores = routes, BlockIndexPath = FlistSinkOptions.DefaultBlockIndexPath }
                    : null,
                Hub = client,
            };
            try
            {
                SinkFactory.Validate(spec, options);
            }
            catch (ArgumentException e)
            {
                throw new UsageException(StoreUrl.Redact(UsageException.From(e).Message));
            }
            catch (IOException e)
            {
                throw new UsageException(e.Message);
            }
            return new OutputTargets(spec, options, routes, client, publish);
        }
        catch
        {
            client?.Dispose();
            _ = DisposeStoresAsync(routes).AsTask();
            throw;
        }
    }

    /// <summary>Parses an output name; a malformed one is a usage error naming the accepted forms.</summary>
    public static OutputSpec ParseOutput(string? output)
    {
        try
        {
            return OutputSpec.Parse(output ?? "");
        }
        catch (ArgumentException e)
        {
            throw UsageException.From(e);
        }
    }

    public static Option<string?> PublishOption() => new("--publish")
    {
        Description = "After writing a .fl, copy it into this directory (served by a web server ZOS fetches from).",
        HelpName = "DIR",
    };

    /// <summary>Copies the finished .fl into <paramref name="dir"/> under a temporary name, then renames it into place.</summary>
    public static async Task PublishAsync(string fl, string dir, bool quiet, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(dir)) throw new UsageException($"--publish directory '{dir}' does not exist");
        using (var target = new RootfsForge.IO.AtomicFile(Path.Combine(dir, Path.GetFileName(fl))))
        {
            await using (var src = File.OpenRead(fl)) await src.CopyToAsync(target.Stream, cancellationToken).ConfigureAwait(false);
            target.Commit();
        }
        if (!quiet) Console.Error.WriteLine($"rootfsforge: published {Path.Combine(dir, Path.GetFileName(fl))}");
    }

    public static Option<string[]> StoreOption(string description) => new("--store", "-s")
    {
        Description = description,
        AllowMultipleArgumentsPerToken = false,
        HelpName = "STORE",
    };

    public static Option<string?> TokenFileOption() => new("--token-file")
    {
        Description = $"A file holding the hub token (else ${HubClient.TokenVariable}). Tokens are never taken from the command line.",
        HelpName = "FILE",
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

    /// <summary>Parses and opens <c>--store</c> specs; a malformed one is a usage error (secrets redacted).</summary>
    public static List<BlockStoreRoute> OpenStores(string[]? specs, bool required = true)
    {
        if ((specs is null || specs.Length == 0) && required) throw new UsageException("at least one --store is needed");
        var routes = new List<BlockStoreRoute>();
        try
        {
            foreach (var s in specs ?? []) routes.Add(BlockStoreRoute.Parse(StoreSecrets.Apply(s)));
        }
        catch (ArgumentException e)
        {
            _ = DisposeStoresAsync(routes).AsTask();
            throw new UsageException(StoreUrl.Redact(e.Message));
        }
        return routes;
    }

    /// <summary>Opens stores a build writes to: also refused (exit 2) when they leave a block id uncovered or are read-only.</summary>
    public static List<BlockStoreRoute> OpenWritableStores(string[]? specs)
    {
        var routes = OpenStores(specs);
        try
        {
            FlistSink.ValidateStores(routes);
        }
        catch (ArgumentException e)
        {
            _ = DisposeStoresAsync(routes).AsTask();
            throw new UsageException(StoreUrl.Redact(UsageException.From(e).Message));
        }
        return routes;
    }

    public static async ValueTask DisposeStoresAsync(IEnumerable<BlockStoreRoute> routes)
    {
        foreach (var r in routes) await r.Store.DisposeAsync().ConfigureAwait(false);
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
        var s = sink.Statistics;
        return $"rootfsforge: {path}: {s.Entries} entries, {b.Files} files, {b.Blocks} blocks, " +
               $"{b.BytesIn} bytes in, {b.BytesStored} bytes stored, {b.BlocksAlreadyPresent} block writes skipped (already present), " +
               $"{b.BlocksDuplicate} duplicate chunks, {b.BlocksKnown} known from the block index, {s.SkippedSockets} sockets skipped, " +
               $"{s.DroppedAttributes} xattrs dropped, {b.Elapsed.TotalSeconds:F1} s" +
               (b.Elapsed.TotalSeconds > 0 ? $" ({b.BytesIn / b.Elapsed.TotalSeconds / 1e6:F0} MB/s)" : "");
    }

    /// <summary>Clamp for mtimes: the option's value, else SOURCE_DATE_EPOCH, else none.</summary>
    public static UnixTime? ParseClamp(string? value)
    {
        value ??= Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        if (string.IsNullOrWhiteSpace(value)) return null;
        if (long.TryParse(value, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long seconds))
            return new UnixTime(seconds, 0);
        if (DateTimeOffset.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var t))
            return new UnixTime(t.ToUnixTimeSeconds(), 0);
        throw new UsageException($"--mtime-clamp: '{value}' is neither Unix seconds nor an ISO 8601 time");
    }
}

/// <summary>One parsed and validated output with the stores or hub client it needs; disposed after the sink.</summary>
internal sealed class OutputTargets(OutputSpec spec, SinkFactoryOptions options, List<BlockStoreRoute> routes, HubClient? hub,
    string? publishDir) : IAsyncDisposable
{
    public OutputSpec Spec => spec;

    public SinkFactoryOptions Options => options;

    public IReadOnlyList<BlockStoreRoute> Routes => routes;

    /// <summary>Where <c>--publish</c> copied the finished <c>.fl</c> (after <see cref="FinishAsync"/>), else null.</summary>
    public string? Published { get; private set; }

    /// <summary>
    /// Creates the sink (standard output through a stream that reports a closed reader), with <paramref name="changed"/>
    /// options when the command adds to them (tags).
    /// </summary>
    public TreeSink CreateSink(SinkFactoryOptions? changed = null)
    {
        var o = changed ?? options;
        return SinkFactory.Create(spec, spec.Kind == OutputKind.StandardOutput ? o with { StandardOutput = CommandRunner.OpenStandardOutput() } : o);
    }

    /// <summary>
    /// Prints what the finished sink did beyond the common summary (blocks and dedup, or the hub's answer) and publishes a
    /// finished <c>.fl</c> when asked.
    /// </summary>
    public async Task FinishAsync(TreeSink sink, bool quiet, CancellationToken cancellationToken)
    {
        if (sink is FlistSink && publishDir is not null)
        {
            await OutputOptions.PublishAsync(spec.Path, publishDir, quiet, cancellationToken).ConfigureAwait(false);
            Published = Path.GetFullPath(Path.Combine(publishDir, Path.GetFileName(spec.Path)));
        }
        if (quiet) return;
        switch (sink)
        {
            case FlistSink fl:
                Console.Error.WriteLine(OutputOptions.FlistSummary(spec.Path, fl));
                OutputOptions.WarnUnreachable(routes);
                break;
            case HubSink h when h.Result is { } r:
                Console.Error.WriteLine($"rootfsforge: uploaded {spec.Path}.tar.gz; the hub made {r.Name}");
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await OutputOptions.DisposeStoresAsync(routes).ConfigureAwait(false);
        hub?.Dispose();
    }
}
