using System.CommandLine;

namespace RootfsForge.Cli.Commands;

/// <summary>Options and arguments shared by the image commands.</summary>
internal static class CommonOptions
{
    public static Argument<string> Image() => new("IMAGE") { Description = "A qcow2 (v2/v3) or raw disk image, or a bare ext2/3/4 filesystem image." };

    public static Option<int?> Partition() => new("--partition", "-p")
    {
        Description = "Use partition N as the root filesystem (GPT entry number; MBR 1-4 primary, 5+ logical; 0 = bare filesystem). Default: chosen automatically.",
    };

    public static Option<bool> VerifyChecksums() => new("--verify-checksums")
    {
        Description = "Verify ext4 metadata_csum checksums and stop at the first mismatch.",
    };

    public static Option<bool> NoJournalReplay() => new("--no-journal-replay")
    {
        Description = "Do not replay the ext4 journal of a filesystem that needs recovery (read it as it is, with a warning).",
    };

    /// <summary>Opens the image with the shared options, printing warnings to stderr.</summary>
    public static CloudImage Open(ParseResult parse, Argument<string> image, Option<int?> partition,
        Option<bool>? verify = null, Option<bool>? noReplay = null, bool quiet = false)
    {
        string path = parse.GetValue(image)!;
        if (!File.Exists(path)) throw new UsageException($"{path}: no such file");
        var img = CloudImage.Open(path, new CloudImageOptions
        {
            PartitionNumber = parse.GetValue(partition),
            VerifyChecksums = verify is not null && parse.GetValue(verify),
            ReplayJournal = noReplay is null || !parse.GetValue(noReplay),
            OnWarning = quiet ? null : w => Console.Error.WriteLine($"rootfsforge: warning: {w}"),
        });
        if (!quiet)
            foreach (var w in img.Warnings) Console.Error.WriteLine($"rootfsforge: warning: {w}");
        return img;
    }
}
