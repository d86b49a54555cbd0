using System.CommandLine;
using System.Globalization;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge ls IMAGE [PATH] [-l]</c>.</summary>
internal static class LsCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("INPUT") { Description = ImageOptions.InputDescription };
        var path = new Argument<string>("PATH") { Description = "Directory (or file) inside the tree.", DefaultValueFactory = _ => "/" };
        var longFormat = new Option<bool>("--long", "-l") { Description = "Long listing: mode, owner, size, modification time and link target." };
        var partition = CommonOptions.Partition();
        var allowBacking = CommonOptions.AllowBackingOutside();
        var command = new Command("ls", "List a directory of an input's root filesystem (disk image, tar, directory, .fl or container image).")
        {
            input, path, longFormat, partition, allowBacking,
        };
        var images = new ImageOptions();
        images.AddTo(command);
        var report = new ReportOptions(json: false);
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            string source = parse.GetValue(input)!;
            ImageOptions.CheckInput(source);
            var disk = CommonOptions.DiskOptions(parse, partition, allowBackingOutside: allowBacking);
            await using var lookup = await InputLookup.OpenAsync(parse, images, source, disk, report.Get(parse).DetailOnly(), ct).ConfigureAwait(false);
            string p = parse.GetValue(path)!;
            var entry = lookup.Tree.GetEntry(p, followSymlinks: true)
                ?? throw new UsageException($"{p}: no such file or directory in the image");
            var entries = entry.Type == EntryType.Directory ? lookup.Tree.ListDirectory(entry.Path) : [entry];
            var output = Console.Out;
            foreach (var e in entries)
            {
                ct.ThrowIfCancellationRequested();
                string name = entry.Type == EntryType.Directory ? e.Name : p;
                output.WriteLine(parse.GetValue(longFormat) ? LongLine(e, name) : name);
            }
            await output.FlushAsync(ct).ConfigureAwait(false);
            return ExitCodes.Ok;
        }));
        return command;
    }

    internal static string LongLine(TreeEntry e, string name)
    {
        string size = e.Type is EntryType.CharacterDevice or EntryType.BlockDevice
            ? $"{e.DeviceMajor},{e.DeviceMinor}"
            : e.Size.ToString(CultureInfo.InvariantCulture);
        string time = e.ModificationTime.ToString();
        string link = e.Type == EntryType.SymbolicLink ? $" -> {e.LinkTarget}" : "";
        return $"{ModeString(e)} {e.Uid,6} {e.Gid,6} {size,12} {time} {name}{link}";
    }

    internal static string ModeString(TreeEntry e)
    {
        char type = e.Type switch
        {
            EntryType.Directory => 'd',
            EntryType.SymbolicLink => 'l',
            EntryType.CharacterDevice => 'c',
            EntryType.BlockDevice => 'b',
            EntryType.Fifo => 'p',
            EntryType.Socket => 's',
            _ => '-',
        };
        int m = e.Permissions;
        Span<char> s = stackalloc char[10];
        s[0] = type;
        const string rwx = "rwxrwxrwx";
        for (int i = 0; i < 9; i++) s[i + 1] = (m & (1 << (8 - i))) != 0 ? rwx[i] : '-';
        if ((m & 0x800) != 0) s[3] = (m & 0x40) != 0 ? 's' : 'S';
        if ((m & 0x400) != 0) s[6] = (m & 0x8) != 0 ? 's' : 'S';
        if ((m & 0x200) != 0) s[9] = (m & 0x1) != 0 ? 't' : 'T';
        return new string(s);
    }
}
