using System.CommandLine;
using RootfsForge.Sources;
using RootfsForge.Sources.Oci;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary>
/// The options of commands that read an OCI image (platform, blob cache, credentials, insecure registries), and the one
/// way a command opens its tree input (<see cref="OpenInputAsync"/>, through <see cref="TreeInput"/>).
/// </summary>
internal sealed class ImageOptions
{
    /// <summary>The help text of a tree input argument.</summary>
    public const string InputDescription =
        "A qcow2/raw disk image (read in-process), a tar (.tar, .tar.gz, .tar.zst), a directory, a .fl, or a container image: " +
        "docker://[REGISTRY/]REPO[:TAG|@sha256:DIGEST], oci:DIR[:TAG], docker-archive:FILE.";

    public Option<string?> Platform { get; } = new("--platform") { Description = "os/arch[/variant] to pick from a multi-platform image (default: linux/amd64).", HelpName = "PLATFORM" };

    public Option<string?> Cache { get; } = new("--cache")
    {
        Description = "Blob cache folder (default: $XDG_CACHE_HOME/rootfsforge/blobs, else ~/.cache/rootfsforge/blobs): a second image sharing layers downloads only what is new.",
        HelpName = "DIR",
    };

    public Option<string?> CredsFile { get; } = new("--creds-file") { Description = "A registry auth file (containers-auth.json / docker config.json format) read before the standard ones. Credentials are never taken from the command line.", HelpName = "FILE" };

    public Option<string[]> Insecure { get; } = new("--insecure-registry") { Description = "Allow plain HTTP or an unverified certificate for this registry host[:port] (repeatable; local registries only).", HelpName = "HOST" };

    public void AddTo(Command command)
    {
        command.Options.Add(Platform);
        command.Options.Add(Cache);
        command.Options.Add(CredsFile);
        command.Options.Add(Insecure);
    }

    /// <summary>
    /// Checks an input before any work: a malformed reference, a layout or archive that does not exist, or a missing
    /// path is a usage error (exit 2).
    /// </summary>
    public static TreeInputKind CheckInput(string input)
    {
        if (ImageReference.IsReference(input))
        {
            ParseReference(input);
            return TreeInputKind.ContainerImage;
        }
        try
        {
            return TreeInput.KindOf(input);
        }
        catch (FileNotFoundException)
        {
            throw new UsageException($"{input}: no such file or directory");
        }
    }

    /// <summary>
    /// Opens a command's input (<see cref="CheckInput"/> first): a container image with these options, reporting its
    /// download and the layers applied on stderr unless <paramref name="quiet"/>; a disk image with <paramref name="disk"/>.
    /// A container image's layers hand their contents to <paramref name="sink"/> as they are decompressed when it encodes
    /// them anyway (<see cref="OciTreeSourceOptions.ForSink"/>; the input must then be disposed before the sink).
    /// </summary>
    public async Task<TreeInput> OpenInputAsync(ParseResult parse, string input, bool quiet, CancellationToken ct,
        CloudImageOptions? disk = null, TreeSink? sink = null)
    {
        var options = InputOptions(parse, input, quiet, disk);
        if (sink is not null && options.Layers is { } layers) options = options with { Layers = layers.ForSink(sink) };
        try
        {
            return await TreeInput.OpenAsync(input, options, ct).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            throw UsageException.From(e);
        }
    }

    /// <summary>How <see cref="TreeInput"/> opens <paramref name="input"/> (checked with <see cref="CheckInput"/>).</summary>
    public TreeInputOptions InputOptions(ParseResult parse, string input, bool quiet, CloudImageOptions? disk = null) =>
        new()
        {
            DiskImage = disk,
            ContainerImage = CheckInput(input) == TreeInputKind.ContainerImage ? Options(parse, quiet) : null,
            Layers = LayerOptions(quiet),
        };

    /// <summary>Layer merging with a line per layer applied on stderr (none when <paramref name="quiet"/>).</summary>
    public static OciTreeSourceOptions LayerOptions(bool quiet) => new()
    {
        Progress = quiet ? null : new LayerLines(),
    };

    /// <summary>
    /// A line per layer applied, written on the reporting thread (not through <see cref="Progress{T}"/>, which posts
    /// to the thread pool: lines could come out of order, or be lost when the command ends first).
    /// </summary>
    private sealed class LayerLines : IProgress<OciLayerProgress>
    {
        public void Report(OciLayerProgress p) =>
            Console.Error.WriteLine($"rootfsforge: layer {p.LayersApplied}/{p.LayerCount} applied ({p.Digest[..19]}…)");
    }

    /// <summary>Parses a reference; a malformed one, or a local layout or archive that does not exist, is a usage error.</summary>
    public static ImageReference ParseReference(string text)
    {
        ImageReference reference;
        try
        {
            reference = ImageReference.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
        if (reference.Transport == ImageTransport.OciLayout && !Directory.Exists(reference.Path))
            throw new UsageException($"{text}: no such directory");
        if (reference.Transport == ImageTransport.DockerArchive && !File.Exists(reference.Path))
            throw new UsageException($"{text}: no such file");
        return reference;
    }

    public OciImageOptions Options(ParseResult parse, bool quiet)
    {
        Sources.Oci.Platform? platform = null;
        if (parse.GetValue(Platform) is { } p)
        {
            try
            {
                platform = Sources.Oci.Platform.Parse(p);
            }
            catch (FormatException e)
            {
                throw new UsageException($"--platform: {e.Message}");
            }
        }
        if (parse.GetValue(CredsFile) is { } creds && !File.Exists(creds)) throw new UsageException($"--creds-file {creds}: no such file");
        return new OciImageOptions
        {
            Platform = platform,
            CacheDirectory = parse.GetValue(Cache),
            CredentialsFile = parse.GetValue(CredsFile),
            InsecureRegistries = parse.GetValue(Insecure) ?? [],
            Progress = new DownloadProgress(this, quiet),
        };
    }

    /// <summary>The last download report of an image opened with <see cref="Options"/> (null before the first).</summary>
    public OciProgress? LastProgress { get; private set; }

    /// <summary>When every layer was in the blob cache, counted from <see cref="Options"/>; null before.</summary>
    public TimeSpan? AllLayersFetched { get; private set; }

    /// <summary>
    /// Download progress on stderr: a line at most every second and one when a layer completes (layers, bytes, what came
    /// from the network and its rate). Reported synchronously, so <see cref="LastProgress"/> is current when the download
    /// returns.
    /// </summary>
    private sealed class DownloadProgress(ImageOptions owner, bool quiet) : IProgress<OciProgress>
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private readonly object _gate = new();
        private TimeSpan _lastLine = TimeSpan.FromSeconds(-1); // the first report prints
        private int _lastLayers = -1;

        public void Report(OciProgress p)
        {
            lock (_gate)
            {
                owner.LastProgress = p;
                var now = _clock.Elapsed;
                if (p.LayersDone == p.LayerCount) owner.AllLayersFetched ??= now;
                if (quiet) return;
                if (now - _lastLine < TimeSpan.FromSeconds(1) && p.LayersDone == _lastLayers) return;
                _lastLine = now;
                _lastLayers = p.LayersDone;
                double s = Math.Max(now.TotalSeconds, 0.001);
                Console.Error.WriteLine($"rootfsforge: layers {p.LayersDone}/{p.LayerCount}, {Format.Bytes(p.BytesDone)} of " +
                                        $"{Format.Bytes(p.BytesTotal)} ({Format.Bytes(p.BytesDownloaded)} downloaded), " +
                                        $"{Format.Bytes((long)(p.BytesDownloaded / s))}/s");
            }
        }
    }
}
