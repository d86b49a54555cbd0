using System.CommandLine;
using RootfsForge.Cli.Json;
using RootfsForge.Diff;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary>
/// <c>rootfsforge fl diff A B</c>: what changed from tree A to tree B (each any tree input: a .fl, tar, directory, disk image or container image), and
/// for two .fl files the block data B adds. Exit 0 same, 1 different (like diff(1)), 2 usage, 3 bad input.
/// </summary>
internal static class FlDiffCommand
{
    public static Command Create()
    {
        var a = new Argument<string>("A") { Description = "The tree before. " + ImageOptions.InputDescription };
        var b = new Argument<string>("B") { Description = "The tree after, of any of the kinds A can be." };
        var command = new Command("diff", "Show added, removed and changed paths (content, type, link target, mode, owner) between two trees; " +
            "exit 0 same, 1 different.") { a, b };
        var image = new ImageOptions();
        image.AddTo(command);
        var report = new ReportOptions(schema: "diff");
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            string pa = parse.GetValue(a)!, pb = parse.GetValue(b)!;
            ImageOptions.CheckInput(pa);
            ImageOptions.CheckInput(pb);
            // Standard output is the answer: a container image's download lines only with -v.
            await using var ia = await image.OpenInputAsync(parse, pa, quiet: !r.Verbose, ct).ConfigureAwait(false);
            await using var ib = await image.OpenInputAsync(parse, pb, quiet: !r.Verbose, ct).ConfigureAwait(false);
            var result = await TreeDiff.CompareAsync(ia.Tree, ib.Tree, ct).ConfigureAwait(false);
            r.WarnAll(ia.Warnings.Concat(ib.Warnings));
            if (r.Json)
            {
                r.Result(DiffDocument.From(pa, pb, result, r.Warnings), CliJson.Default.DiffDocument);
                return result.Same ? ExitCodes.Ok : ExitCodes.Differs;
            }
            await using var stdout = new StreamWriter(CommandRunner.OpenStandardOutput()) { AutoFlush = false };
            WriteText(stdout, result);
            await stdout.FlushAsync(ct).ConfigureAwait(false);
            return result.Same ? ExitCodes.Ok : ExitCodes.Differs;
        }));
        return command;
    }

    /// <summary>The diff as lines (also <c>build --compare</c>'s report).</summary>
    internal static void WriteText(TextWriter w, TreeDiffResult result)
    {
        foreach (var c in result.Changes)
        {
            // Names come from the inputs: control characters are shown escaped.
            string path = TreePath.Display(c.Path);
            string type = TreeDiff.TypeName(c.Type);
            switch (c.Kind)
            {
                case TreeChangeKind.Added: w.WriteLine($"+ {path} ({type})"); break;
                case TreeChangeKind.Removed: w.WriteLine($"- {path} ({type})"); break;
                default:
                    w.WriteLine($"~ {path}: " + string.Join(", ", c.Fields.Select(f => f.Field switch
                    {
                        "content" => f.Old == f.New ? $"content ({f.New} bytes)" : $"content ({f.Old} -> {f.New} bytes)",
                        _ => $"{f.Field} {f.Old} -> {f.New}",
                    })));
                    break;
            }
        }
        int added = result.Changes.Count(c => c.Kind == TreeChangeKind.Added);
        int removed = result.Changes.Count(c => c.Kind == TreeChangeKind.Removed);
        w.WriteLine($"{added} added, {removed} removed, {result.Changes.Count - added - removed} changed");
        if (result.Blocks is { } k)
            w.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"new blocks: {k.NewBlocks} of {k.Blocks} ({Format.Bytes(k.NewBytes)} of {Format.Bytes(k.Bytes)} before compression, {(k.Bytes == 0 ? 0 : 100.0 * k.NewBytes / k.Bytes):0.00} %)"));
    }
}

/// <summary>
/// The <c>fl diff --json</c> document, <c>rootfsforge.diff/v1</c> (docs/cli-json.md §10), written through
/// <see cref="CliJson"/> like every other document.
/// </summary>
internal sealed record DiffDocument(string Schema, string A, string B, bool Same, int Added, int Removed, int Changed,
    IReadOnlyList<DiffEntry> Entries, FlistBlockDelta? Blocks, IReadOnlyList<string> Warnings)
{
    public static DiffDocument From(string a, string b, TreeDiffResult r, IReadOnlyList<string> warnings)
    {
        var entries = r.Changes.Select(c => new DiffEntry(c.Path, c.Kind.ToString().ToLowerInvariant(), TreeDiff.TypeName(c.Type),
            c.Fields)).ToList();
        int added = entries.Count(e => e.Change == "added"), removed = entries.Count(e => e.Change == "removed");
        return new DiffDocument(JsonResultWriter.Schema("diff"), a, b, r.Same, added, removed, entries.Count - added - removed, entries,
            r.Blocks, warnings);
    }
}

/// <summary>One differing path: <c>change</c> is added, removed or changed; <c>fields</c> lists what changed (empty when added or removed).</summary>
internal sealed record DiffEntry(string Path, string Change, string Type, IReadOnlyList<TreeFieldChange> Fields);
