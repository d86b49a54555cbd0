using System.CommandLine;
using System.Text.Json;
using RootfsForge.Disks;
using RootfsForge.Sources.Oci;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge inspect IMAGE [--json]</c>: format, backing chain, partitions, chosen root, filesystem facts.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("IMAGE")
        {
            Description = "A qcow2 (v2/v3) or raw disk image, a bare ext2/3/4 filesystem image, or a container image: " +
                          "docker://[REGISTRY/]REPO[:TAG|@sha256:DIGEST], oci:DIR[:TAG], docker-archive:FILE.",
        };
        var partition = CommonOptions.Partition();
        var allowBacking = CommonOptions.AllowBackingOutside();
        var command = new Command("inspect", "Describe a disk image (format, backing chain, partitions, root filesystem) or a container image (manifest, platforms, layers, config).")
        {
            image, partition, allowBacking,
        };
        var images = new ImageOptions();
        images.AddTo(command);
        var report = new ReportOptions(schema: "inspect[-oci]");
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            if (ImageReference.IsReference(parse.GetValue(image)!))
            {
                var reference = ImageOptions.ParseReference(parse.GetValue(image)!);
                // Only the manifest(s) and the config are fetched; no layer is downloaded.
                await using var oci = await OciImage.OpenAsync(reference, images.Options(parse, quiet: true), ct).ConfigureAwait(false);
                if (r.Json) ContainerInspect.WriteJson(oci);
                else ContainerInspect.WriteText(oci);
                return ExitCodes.Ok;
            }
            // With --json the image's warnings are in the document's "warnings", not on standard error.
            using var img = CommonOptions.Open(parse, image, partition, r.Json ? r.DetailOnly() : r,
                allowBackingOutside: allowBacking);
            var counts = await CountEntriesAsync(img, ct).ConfigureAwait(false);
            if (r.Json) WriteJson(img, counts);
            else WriteText(img, counts);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static async Task<Dictionary<EntryType, long>> CountEntriesAsync(CloudImage img, CancellationToken ct)
    {
        var counts = Enum.GetValues<EntryType>().ToDictionary(t => t, _ => 0L);
        await foreach (var e in img.FileSystem.WalkAsync(ct).ConfigureAwait(false)) counts[e.Type]++;
        return counts;
    }

    private static IEnumerable<DiskImage> Chain(DiskImage disk)
    {
        for (DiskImage? d = disk; d is not null; d = d.Backing) yield return d;
    }

    /// <summary>
    /// One line per image of the backing chain, the opened image first: depth, format, virtual size, the file read
    /// (symbolic links resolved), how its parent names it, and an external data file.
    /// </summary>
    private static IEnumerable<string> ChainLines(DiskImage disk)
    {
        DiskImage? parent = null;
        int depth = 0;
        foreach (var d in Chain(disk))
        {
            string named = parent is Qcow2DiskImage { BackingFileName: { } name } ? $", named '{name}' by the image above" : "";
            string data = d is Qcow2DiskImage { ExternalDataFile: { } file } ? $", data file {file}" : "";
            yield return $"{depth}  {d.Format,-5} {Format.Bytes(d.Length),10}  {d.ResolvedPath}{named}{data}";
            parent = d;
            depth++;
        }
    }

    private static void WriteText(CloudImage img, Dictionary<EntryType, long> counts)
    {
        var o = Console.Out;
        o.WriteLine($"image:        {img.Disk.Path}");
        o.WriteLine($"format:       {img.Disk.Format}");
        o.WriteLine($"virtual size: {img.Disk.Length} bytes ({Format.Bytes(img.Disk.Length)})");
        bool first = true;
        foreach (var line in ChainLines(img.Disk))
        {
            o.WriteLine($"{(first ? "chain:" : ""),-14}{line}");
            first = false;
        }
        o.WriteLine($"partitions:   {(img.PartitionTable.Scheme == Partitions.PartitionScheme.None ? "none (a filesystem on the whole disk)" : img.PartitionTable.Scheme.ToString().ToUpperInvariant())}");
        foreach (var p in img.PartitionTable.Partitions)
        {
            string mark = p.Number == img.RootPartition.Number ? "*" : " ";
            o.WriteLine($"  {mark}{p.Number,3}  {p.TypeName,-24} {Format.Bytes(p.Length),10}  offset {p.Offset,-12} " +
                        $"name={p.Name ?? "-"} fs={(p.FileSystem == Partitions.FileSystemKind.Unknown ? "-" : p.FileSystem.ToString().ToLowerInvariant())} label={p.FileSystemLabel ?? "-"}");
        }
        var info = img.FileSystem.Info;
        o.WriteLine($"root:         partition {img.RootPartition.Number}");
        o.WriteLine($"filesystem:   {info.Kind}, label '{info.Label}', uuid {info.Uuid}");
        o.WriteLine($"block size:   {info.BlockSize}");
        o.WriteLine($"features:     {string.Join(' ', info.CompatFeatures.Concat(info.IncompatFeatures).Concat(info.RoCompatFeatures))}");
        o.WriteLine($"inodes:       {info.InodesCount - info.FreeInodesCount} used of {info.InodesCount}");
        o.WriteLine($"entries:      {counts.Values.Sum()} ({counts[EntryType.RegularFile]} files, {counts[EntryType.Directory]} directories, " +
                    $"{counts[EntryType.SymbolicLink]} symlinks, {counts[EntryType.HardLink]} hard links, " +
                    $"{counts[EntryType.CharacterDevice] + counts[EntryType.BlockDevice]} devices, {counts[EntryType.Fifo]} fifos, {counts[EntryType.Socket]} sockets)");
        foreach (var w in img.Warnings.Concat(img.FileSystem.Warnings)) o.WriteLine($"warning:      {w}");
    }

    private static void WriteJson(CloudImage img, Dictionary<EntryType, long> counts)
    {
        // Written field by field (Utf8JsonWriter, no reflection) in the shape documented in docs/cli-json.md §4.
        using var stdout = CommandRunner.OpenStandardOutput();
        using var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("schema", Json.JsonResultWriter.Schema("inspect"));
        w.WriteString("image", img.Disk.Path);
        w.WriteString("format", img.Disk.Format);
        w.WriteNumber("virtualSize", img.Disk.Length);
        w.WriteString("resolvedPath", img.Disk.ResolvedPath);
        if (img.Disk is Qcow2DiskImage { ExternalDataFile: { } topData }) w.WriteString("dataFile", topData);
        w.WriteStartArray("backingChain"); // the images below the opened one, nearest first
        DiskImage? parent = img.Disk;
        foreach (var d in Chain(img.Disk).Skip(1))
        {
            w.WriteStartObject();
            w.WriteString("path", d.Path);
            w.WriteString("resolvedPath", d.ResolvedPath);
            w.WriteString("format", d.Format);
            w.WriteNumber("virtualSize", d.Length);
            if (parent is Qcow2DiskImage { BackingFileName: { } name }) w.WriteString("backingFileName", name);
            if (parent is Qcow2DiskImage { BackingFormat: { } format }) w.WriteString("backingFormat", format);
            if (d is Qcow2DiskImage { ExternalDataFile: { } file }) w.WriteString("dataFile", file);
            w.WriteEndObject();
            parent = d;
        }
        w.WriteEndArray();
        w.WriteString("partitionScheme", img.PartitionTable.Scheme.ToString().ToLowerInvariant());
        w.WriteStartArray("partitions");
        foreach (var p in img.PartitionTable.Partitions)
        {
            w.WriteStartObject();
            w.WriteNumber("number", p.Number);
            w.WriteString("type", p.TypeName);
            if (p.TypeGuid is Guid g) w.WriteString("typeGuid", g.ToString());
            if (p.MbrType is byte b) w.WriteNumber("mbrType", b);
            if (p.Name is not null) w.WriteString("name", p.Name);
            w.WriteNumber("offset", p.Offset);
            w.WriteNumber("size", p.Length);
            w.WriteString("filesystem", p.FileSystem.ToString().ToLowerInvariant());
            if (p.FileSystemLabel is not null) w.WriteString("label", p.FileSystemLabel);
            w.WriteBoolean("root", p.Number == img.RootPartition.Number);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        var info = img.FileSystem.Info;
        w.WriteNumber("rootPartition", img.RootPartition.Number);
        w.WriteStartObject("filesystem");
        w.WriteString("type", info.Kind);
        w.WriteString("label", info.Label);
        w.WriteString("uuid", info.Uuid.ToString());
        w.WriteNumber("blockSize", info.BlockSize);
        w.WriteNumber("blocksCount", info.BlocksCount);
        w.WriteNumber("freeBlocks", info.FreeBlocksCount);
        w.WriteNumber("inodesCount", info.InodesCount);
        w.WriteNumber("freeInodes", info.FreeInodesCount);
        w.WriteBoolean("needsRecovery", info.NeedsRecovery);
        WriteArray(w, "compatFeatures", info.CompatFeatures);
        WriteArray(w, "incompatFeatures", info.IncompatFeatures);
        WriteArray(w, "roCompatFeatures", info.RoCompatFeatures);
        w.WriteEndObject();
        w.WriteStartObject("entries");
        foreach (var (type, n) in counts) w.WriteNumber(JsonNamingPolicy.CamelCase.ConvertName(type.ToString()), n);
        w.WriteNumber("total", counts.Values.Sum());
        w.WriteEndObject();
        WriteArray(w, "warnings", img.Warnings.Concat(img.FileSystem.Warnings));
        w.WriteEndObject();
        w.Flush();
        stdout.WriteByte((byte)'\n');
    }

    private static void WriteArray(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }
}
