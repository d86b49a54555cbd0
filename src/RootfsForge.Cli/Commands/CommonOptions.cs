using System.CommandLine;

namespace RootfsForge.Cli.Commands;

/// <summary>Options and arguments shared by the image commands.</summary>
internal static class CommonOptions
{
    public static Option<int?> Partition() => new("--partition", "-p")
    {
        Description = "Use partition N as the root filesystem (GPT entry number; MBR 1-4 primary, 5+ logical; 0 = bare filesystem) (default: chosen automatically).",
        HelpName = "N",
    };

    public static Option<bool> VerifyChecksums() => new("--verify-checksums")
    {
        Description = "Verify ext4 metadata_csum checksums and stop at the first mismatch.",
    };

    public static Option<bool> NoJournalReplay() => new("--no-journal-replay")
    {
        Description = "Do not replay the ext4 journal of a filesystem that needs recovery (read it as it is, with a warning).",
    };

    public static Option<string[]> AllowBackingOutside() => new("--allow-backing-outside")
    {
        Description = "Also let the image's backing files and external data file come from DIR (repeatable). By default they " +
                      "must lie inside the image's own folder, so that an image cannot make rootfsforge read host files.",
        HelpName = "DIR",
    };

    /// <summary>Refuses (exit 2) an IMAGE that does not exist or is a directory, before other work.</summary>
    public static string CheckImage(ParseResult parse, Argument<string> image)
    {
        string path = parse.GetValue(image)!;
        if (Directory.Exists(path)) throw new UsageException($"{path}: is a directory, not a disk image");
        if (!File.Exists(path)) throw new UsageException($"{path}: no such file");
        return path;
    }

    /// <summary>The folders of <c>--allow-backing-outside</c>, each checked to be a directory (exit 2 otherwise).</summary>
    public static string[] CheckAllowedBacking(ParseResult parse, Option<string[]>? allowBackingOutside)
    {
        string[] dirs = allowBackingOutside is null ? [] : parse.GetValue(allowBackingOutside) ?? [];
        foreach (var dir in dirs)
            if (!Directory.Exists(dir)) throw new UsageException($"--allow-backing-outside {dir}: no such directory");
        return dirs;
    }

    /// <summary>The disk image options of <c>-p</c>, <c>--verify-checksums</c>, <c>--no-journal-replay</c>, <c>--allow-backing-outside</c>.</summary>
    public static CloudImageOptions DiskOptions(ParseResult parse, Option<int?> partition, Option<bool>? verify = null,
        Option<bool>? noReplay = null, Option<string[]>? allowBackingOutside = null) => new()
    {
        PartitionNumber = parse.GetValue(partition),
        VerifyChecksums = verify is not null && parse.GetValue(verify),
        ReplayJournal = noReplay is null || !parse.GetValue(noReplay),
        Disk = new Disks.DiskImageOptions { AllowedBackingDirectories = CheckAllowedBacking(parse, allowBackingOutside) },
    };


    /// <summary>Opens the image with the shared options, reporting the image's warnings (and with -v what was found).</summary>
    public static CloudImage Open(ParseResult parse, Argument<string> image, Option<int?> partition, Reporter report,
        Option<bool>? verify = null, Option<bool>? noReplay = null, Option<string[]>? allowBackingOutside = null)
    {
        string path = CheckImage(parse, image);
        var options = DiskOptions(parse, partition, verify, noReplay, allowBackingOutside);
        CloudImage img;
        try
        {
            img = CloudImage.Open(path, options);
        }
        catch (ArgumentException e)
        {
            throw UsageException.From(e);
        }
        report.WarnAll(img.Warnings);
        report.Detail($"rootfsforge: {img.Disk.Format} image {img.Disk.ResolvedPath}, {img.PartitionTable.Scheme} partitions, root partition {img.RootPartition.Number} ({img.FileSystem.Info.Kind}, {Format.Bytes(img.FileSystem.Info.UsedBytes)} used)");
        return img;
    }
}
