using System.CommandLine;
using RootfsForge.Definitions;
using RootfsForge.Sinks;
using RootfsForge.Sinks.Flist;
using RootfsForge.Tar;
using RootfsForge.Sources.Directories;
using RootfsForge.Sources.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge fl pack|ls|cat|info|verify|extract</c>: rfs v2 <c>.fl</c> flists and their block stores.</summary>
internal static class FlCommand
{
    public static Command Create()
    {
        var fl = new Command("fl", "Build and read rfs v2 .fl flists (the format ZOS mounts with rfs 2.x).");
        fl.Subcommands.Add(Pack());
        fl.Subcommands.Add(Ls());
        fl.Subcommands.Add(Cat());
        fl.Subcommands.Add(Info());
        fl.Subcommands.Add(Verify());
        fl.Subcommands.Add(Extract());
        fl.Subcommands.Add(FlDiffCommand.Create());
        return fl;
    }

    private static Command Pack()
    {
        var source = new Argument<string>("INPUT") { Description = ImageOptions.InputDescription };
        var output = new Option<string>("--output", "-o") { Description = "The .fl file to write.", Required = true, HelpName = "FILE" };
        var stores = OutputOptions.StoreOption("Block store (repeatable): [xx-yy=]URL with URL dir:///path, zdb://[user[:password]@]host[:port][/ns], " +
                                 "s3://[KEY:SECRET@]host:port/bucket?region=R or s3s://…; every block goes to every store covering its id's first byte. Credentials: see --store-secrets.");
        stores.Required = true;
        var tags = new Option<string[]>("--tag", "--meta", "-m") { Description = "A tag row KEY=VALUE (repeatable; -m/--meta as in rfs).", AllowMultipleArgumentsPerToken = false, HelpName = "KEY=VALUE" };
        var clamp = OutputOptions.MtimeClampOption();
        var publish = OutputOptions.PublishOption();
        var command = new Command("pack", "Pack a tree (a disk image, a tar, a directory, a .fl, a container image) into a .fl, uploading its blocks.") { source, output, stores, tags, clamp, publish };
        var images = new ImageOptions();
        images.AddTo(command);
        var report = new ReportOptions(json: false);
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            string src = parse.GetValue(source)!;
            string outPath = parse.GetValue(output)!;
            if (OutputOptions.ParseOutput(outPath).Kind != RootfsForge.Sinks.OutputKind.Flist)
                throw new UsageException($"the output '{outPath}' must end in .fl (ZOS chooses the reader by extension)");
            ImageOptions.CheckInput(src);
            string? publishDir = parse.GetValue(publish);
            if (publishDir is not null && !Directory.Exists(publishDir))
                throw new UsageException($"--publish directory '{publishDir}' does not exist");
            var tagRows = ParseTags(parse.GetValue(tags));
            var mtimeClamp = OutputOptions.ParseClamp(parse.GetValue(clamp));
            var routes = OutputOptions.OpenWritableStores(parse.GetValue(stores));
            string[] warnings;
            try
            {
                bool q = r.Quiet;
                var options = new FlistSinkOptions
                {
                    Stores = routes, Tags = tagRows, MtimeClamp = mtimeClamp, BlockIndexPath = FlistSinkOptions.DefaultBlockIndexPath,
                };
                // The sink first: it takes a container image's contents as its layers are decompressed; the input is
                // disposed before it (it reads those contents back from the sink's block spool).
                var sink = new FlistSink(outPath, options);
                await using (sink)
                {
                    await using var input = await images.OpenInputAsync(parse, src, q, ct, sink: sink).ConfigureAwait(false);
                    using (var progress = r.Progress(input.ExpectedBytes ?? 0))
                        await TreeCopy.RunAsync(input.Tree, sink, progress, ct).ConfigureAwait(false);
                    warnings = [.. input.Warnings];
                }
                if (publishDir is not null) await OutputOptions.PublishAsync(outPath, publishDir, q, ct).ConfigureAwait(false);
                r.WarnAll(warnings.Concat(sink.Statistics.Warnings));
                if (q) return ExitCodes.Ok;
                OutputOptions.WarnUnreachable(routes);
                Console.Error.WriteLine(OutputOptions.FlistSummary(outPath, sink));
                return ExitCodes.Ok;
            }
            finally
            {
                await OutputOptions.DisposeStoresAsync(routes).ConfigureAwait(false);
            }
        }));
        return command;
    }

    private static Command Ls()
    {
        var file = new Argument<string>("FILE") { Description = "The .fl file." };
        var longFormat = new Option<bool>("--long", "-l") { Description = "Long listing: mode, owner, size, modification time and link target." };
        var command = new Command("ls", "List the tree of a .fl.") { file, longFormat };
        var report = new ReportOptions(json: false);
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            await using var source = FlistSource.Open(parse.GetValue(file)!);
            bool l = parse.GetValue(longFormat);
            await using var stdout = new StreamWriter(CommandRunner.OpenStandardOutput()) { AutoFlush = false };
            await foreach (var e in source.WalkAsync(ct).ConfigureAwait(false))
            {
                // Names come from the file: control characters (a newline, an escape sequence) are shown escaped.
                string path = TreePath.Display(e.Path);
                if (!l)
                {
                    stdout.WriteLine(path);
                    continue;
                }
                string size = e.Type is EntryType.CharacterDevice or EntryType.BlockDevice ? $"{e.DeviceMajor},{e.DeviceMinor}" : e.Size.ToString();
                string target = e.Type == EntryType.SymbolicLink ? " -> " + TreePath.Printable(e.LinkTarget ?? "") : "";
                stdout.WriteLine($"{ModeString(e)} {e.Uid,5} {e.Gid,5} {size,12} {ShortTime(e.ModificationTime)} {path}{target}");
            }
            await stdout.FlushAsync(ct).ConfigureAwait(false);
            report.Get(parse).WarnAll(source.Warnings);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Cat()
    {
        var file = new Argument<string>("FILE") { Description = "The .fl file." };
        var path = new Argument<string>("PATH") { Description = "The file inside the flist." };
        var stores = OutputOptions.StoreOption("Read blocks from this store instead of the file's routes (repeatable, [xx-yy=]URL).");
        var command = new Command("cat", "Write one file of a .fl to standard output.") { file, path, stores };
        var report = new ReportOptions(json: false);
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            report.Get(parse);
            var routes = OutputOptions.OpenStores(parse.GetValue(stores), required: false);
            try
            {
                await using var source = FlistSource.Open(parse.GetValue(file)!, routes);
                string wanted = parse.GetValue(path)!.Trim('/');
                TreeEntry? entry = null;
                await foreach (var e in source.WalkAsync(ct).ConfigureAwait(false))
                {
                    if (e.Path != wanted) continue;
                    entry = e;
                    break;
                }
                if (entry is null) throw new UsageException($"'{wanted}' is not in the flist");
                if (entry.OpenContent is null) throw new UsageException($"'{wanted}' is a {entry.Type}, not a regular file");
                using var content = entry.OpenContent();
                await using var stream = content.OpenStream();
                await using var stdout = CommandRunner.OpenStandardOutput();
                await stream.CopyToAsync(stdout, 1 << 19, ct).ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            finally
            {
                await OutputOptions.DisposeStoresAsync(routes).ConfigureAwait(false);
            }
        }));
        return command;
    }

    private static Command Info()
    {
        var file = new Argument<string>("FILE") { Description = "The .fl file." };
        var command = new Command("info", "Summarise a .fl: inode counts, blocks, routes, tags.") { file };
        var report = new ReportOptions(schema: "fl-info");
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var reporter = report.Get(parse);
            string path = parse.GetValue(file)!;
            await using var source = FlistSource.Open(path);
            var i = source.GetInfo();
            if (reporter.Json)
            {
                foreach (var route in i.Routes)
                    if (StoreUrl.Redact(route.Url) != route.Url) reporter.Warning($"route {TreePath.Printable(StoreUrl.Redact(route.Url))} carries a secret in the .fl");
                reporter.WarnAll(source.Warnings);
                reporter.Result(await Json.FlResults.InfoAsync(path, i, reporter, ct).ConfigureAwait(false), Json.CliJson.Default.FlInfoResult);
                return ExitCodes.Ok;
            }
            Console.WriteLine($"file:        {path}");
            Console.WriteLine($"inodes:      {i.Inodes} ({i.Directories} directories, {i.Files} files, {i.Symlinks} symlinks, {i.Other} other)");
            Console.WriteLine($"content:     {i.ContentBytes} bytes in {i.BlockRows} block rows");
            if (i.FilesWithWrongBlockCount > 0)
                Console.WriteLine($"incomplete:  {i.FilesWithWrongBlockCount} files whose block rows do not cover their size (not counted above)");
            if (i.Unreachable > 0)
                Console.WriteLine($"unreachable: {i.Unreachable} inodes not reachable from the root (corrupt: 'fl verify' names them)");
            foreach (var r in i.Routes)
            {
                // docs/flist-format.md §7: a route must not carry a password or token; never print it.
                string shown = TreePath.Printable(StoreUrl.Redact(r.Url));
                Console.WriteLine($"route:       {r.Start:x2}-{r.End:x2} {shown}");
                if (shown != r.Url) Console.Error.WriteLine($"rootfsforge: warning: route {shown} carries a secret in the .fl");
            }
            foreach (var t in i.Tags) Console.WriteLine($"tag:         {TreePath.Printable(t.Key)}={TreePath.Printable(t.Value)}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Verify()
    {
        var file = new Argument<string>("FILE") { Description = "The .fl file." };
        var stores = OutputOptions.StoreOption("Check this store instead of the file's routes (repeatable, [xx-yy=]URL).");
        var signedBy = SigningOptions.SignedBy();
        var command = new Command("verify", "Check that every block is present, decrypts, decompresses and hashes to its key (exit 3 when one is not); " +
            "with --signed-by, also that the build manifest in the tags is signed by that key (exit 1 when it is not).") { file, stores, signedBy };
        var report = new ReportOptions(schema: "fl-verify");
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            string? trusted = SigningOptions.ReadPublicKey(parse, signedBy);
            var routes = OutputOptions.OpenStores(parse.GetValue(stores), required: false);
            try
            {
                var r = report.Get(parse);
                var clock = System.Diagnostics.Stopwatch.StartNew();
                await using var source = FlistSource.Open(parse.GetValue(file)!, routes);
                var result = await source.VerifyAsync(8, ct).ConfigureAwait(false);
                // The signature is checked only when the blocks are good (a .fl with bad blocks is bad input either way).
                var signature = result.Ok && trusted is not null ? FlistManifest.Read(source.GetInfo().Tags, trusted, RootfsForge.Flist.FlistTreeDigest.Of(parse.GetValue(file)!)) : null;
                bool signed = signature?.Signature == ManifestSignatureStatus.Valid;
                r.Result(new Json.FlVerifyResult(Json.JsonResultWriter.Schema("fl-verify"), parse.GetValue(file)!, result.Ok, result.DistinctBlocks,
                    result.Problems.Select(TreePath.Printable).ToList(), Json.Results.Seconds(clock.Elapsed),
                    signature is null ? null : signed ? "valid" : signature.Problem), Json.CliJson.Default.FlVerifyResult);
                foreach (var p in result.Problems) Console.Error.WriteLine($"rootfsforge: {TreePath.Printable(p)}");
                r.Info(result.Ok
                    ? $"rootfsforge: ok: {result.DistinctBlocks} distinct blocks verified"
                    : $"rootfsforge: {result.Problems.Count} problems in {result.DistinctBlocks} distinct blocks");
                if (!result.Ok) return ExitCodes.BadInput;
                if (signature is null) return ExitCodes.Ok;
                return SigningOptions.Report(signature, r) ? ExitCodes.Ok : ExitCodes.Differs;
            }
            finally
            {
                await OutputOptions.DisposeStoresAsync(routes).ConfigureAwait(false);
            }
        }));
        return command;
    }

    private static Command Extract()
    {
        var file = new Argument<string>("FILE") { Description = "The .fl file." };
        var output = new Option<string>("--output", "-o")
        {
            Description = "Where to write: X.tar, X.tar.gz (or X.tgz), X.tar.zst, - (tar on standard output), or a directory that does not exist or is empty.",
            Required = true, HelpName = "OUTPUT",
        };
        var stores = OutputOptions.StoreOption("Read blocks from this store instead of the file's routes (repeatable, [xx-yy=]URL).");
        var force = new Option<bool>("--force", "-f") { Description = "Replace an output that exists (a file or a non-empty directory)." };
        var command = new Command("extract", "Recreate the tree of a .fl (content fetched from its stores).") { file, output, stores, force };
        var report = new ReportOptions(json: false);
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            var spec = OutputOptions.ParseOutput(parse.GetValue(output));
            if (spec.Kind is RootfsForge.Sinks.OutputKind.Flist or RootfsForge.Sinks.OutputKind.Hub)
                throw new UsageException($"fl extract writes a directory or a tar, not '{spec}'");
            var sinkOptions = new RootfsForge.Sinks.SinkFactoryOptions
            {
                Overwrite = parse.GetValue(force),
                StandardOutput = spec.Kind == RootfsForge.Sinks.OutputKind.StandardOutput ? CommandRunner.OpenStandardOutput() : null,
            };
            try
            {
                RootfsForge.Sinks.SinkFactory.Validate(spec, sinkOptions);
            }
            catch (IOException e)
            {
                throw new UsageException(e.Message);
            }
            var routes = OutputOptions.OpenStores(parse.GetValue(stores), required: false);
            try
            {
                await using var source = FlistSource.Open(parse.GetValue(file)!, routes);
                await using var sink = RootfsForge.Sinks.SinkFactory.Create(spec, sinkOptions);
                using (var progress = r.Progress(source.GetInfo().ContentBytes))
                    await TreeCopy.RunAsync(source, sink, progress, ct).ConfigureAwait(false);
                var stats = sink.Statistics;
                r.WarnAll(source.Warnings.Concat(stats.Warnings));
                r.Info($"rootfsforge: {stats.Entries} entries, {stats.ContentBytes} bytes");
                return ExitCodes.Ok;
            }
            finally
            {
                await OutputOptions.DisposeStoresAsync(routes).ConfigureAwait(false);
            }
        }));
        return command;
    }

    internal static Dictionary<string, string> ParseTags(string[]? tags)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in tags ?? [])
        {
            int eq = t.IndexOf('=');
            if (eq <= 0) throw new UsageException($"bad --tag '{t}': expected KEY=VALUE");
            result[t[..eq]] = t[(eq + 1)..];
        }
        return result;
    }

    /// <summary>A time as yyyy-MM-dd HH:mm; times outside years 1–9999 (a .fl may hold any 64-bit value) as raw seconds.</summary>
    private static string ShortTime(UnixTime t) =>
        t.Seconds is >= -62135596800 and <= 253402300799
            ? DateTimeOffset.FromUnixTimeSeconds(t.Seconds).ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture)
            : $"@{t.Seconds}";

    private static string ModeString(TreeEntry e)
    {
        char t = e.Type switch
        {
            EntryType.Directory => 'd', EntryType.SymbolicLink => 'l', EntryType.CharacterDevice => 'c',
            EntryType.BlockDevice => 'b', EntryType.Fifo => 'p', EntryType.Socket => 's', _ => '-',
        };
        var c = new char[10];
        c[0] = t;
        const string rwx = "rwxrwxrwx";
        for (int i = 0; i < 9; i++) c[i + 1] = (e.Permissions & (1 << (8 - i))) != 0 ? rwx[i] : '-';
        if ((e.Permissions & 0x800) != 0) c[3] = c[3] == 'x' ? 's' : 'S';
        if ((e.Permissions & 0x400) != 0) c[6] = c[6] == 'x' ? 's' : 'S';
        if ((e.Permissions & 0x200) != 0) c[9] = c[9] == 'x' ? 't' : 'T';
        return new string(c);
    }
}
