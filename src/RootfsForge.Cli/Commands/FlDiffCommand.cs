using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
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
        var a = new Argument<string>("A") { Description = "The tree before: " + ImageOptions.InputDescription };
        var b = new Argument<string>("B") { Description = "The tree after, of any of the same kinds." };
        var json = new Option<bool>("--json") { Description = $"Print one JSON document (schema {DiffDocument.SchemaId}) instead of lines." };
        var command = new Command("diff", "Show added, removed and changed paths (content, type, link target, mode, owner) between two trees; " +
            "exit 0 same, 1 different.") { a, b, json };
        var image = new ImageOptions();
        image.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            string pa = parse.GetValue(a)!, pb = parse.GetValue(b)!;
            ImageOptions.CheckInput(pa);
            ImageOptions.CheckInput(pb);
            await using var ia = await image.OpenInputAsync(parse, pa, quiet: true, ct).ConfigureAwait(false);
            await using var ib = await image.OpenInputAsync(parse, pb, quiet: true, ct).ConfigureAwait(false);
            var result = await TreeDiff.CompareAsync(ia.Tree, ib.Tree, ct).ConfigureAwait(false);
            foreach (var w in ia.Warnings.Concat(ib.Warnings)) Console.Error.WriteLine($"rootfsforge: warning: {TreePath.Printable(w)}");
            await using var stdout = new StreamWriter(CommandRunner.OpenStandardOutput()) { AutoFlush = false };
            if (parse.GetValue(json))
                await stdout.WriteLineAsync(JsonSerializer.Serialize(DiffDocument.From(pa, pb, result), DiffJson.Default.DiffDocument)).ConfigureAwait(false);
            else
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

/// <summary>The <c>fl diff --json</c> document (schema <see cref="SchemaId"/>).</summary>
internal sealed record DiffDocument(string Schema, string A, string B, bool Same, int Added, int Removed, int Changed,
    IReadOnlyList<DiffEntry> Entries, FlistBlockDelta? Blocks)
{
    public const string SchemaId = "rootfsforge.diff/v1";

    public static DiffDocument From(string a, string b, TreeDiffResult r)
    {
        var entries = r.Changes.Select(c => new DiffEntry(c.Path, c.Kind.ToString().ToLowerInvariant(), TreeDiff.TypeName(c.Type),
            c.Fields.Count == 0 ? null : c.Fields)).ToList();
        int added = entries.Count(e => e.Change == "added"), removed = entries.Count(e => e.Change == "removed");
        return new DiffDocument(SchemaId, a, b, r.Same, added, removed, entries.Count - added - removed, entries, r.Blocks);
    }
}

/// <summary>One differing path: <c>change</c> is added, removed or changed; <c>fields</c> lists what changed.</summary>
internal sealed record DiffEntry(string Path, string Change, string Type, IReadOnlyList<TreeFieldChange>? Fields);

/// <summary>Source-generated (AOT-safe) JSON for <see cref="DiffDocument"/>: camelCase, nulls left out.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DiffDocument))]
internal sealed partial class DiffJson : JsonSerializerContext;
