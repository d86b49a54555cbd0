// Opens a cloud image (qcow2 or raw; GPT, MBR or a bare ext2/3/4 filesystem) and writes its root filesystem as a
// deterministic pax tar:  dotnet run -- IMAGE OUT.tar
using RootfsForge;
using RootfsForge.Sinks;
using RootfsForge.Tree;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: ImageToTar IMAGE OUT.tar");
    return 2;
}

using var image = CloudImage.Open(args[0]);
foreach (var warning in image.Warnings) Console.Error.WriteLine($"warning: {warning}");

var progress = new ConsoleProgress();
await using (var sink = SinkFactory.Create(args[1]))
{
    await TreeCopy.RunAsync(image.FileSystem, sink, progress);
}
Console.WriteLine($"{args[1]}: {progress.Last.Entries} entries, {progress.Last.ContentBytes} bytes of file content");
return 0;

/// <summary>Shows progress on stderr and keeps the last report (the one with Completed set comes after the copy).</summary>
sealed class ConsoleProgress : IProgress<TreeProgress>
{
    public TreeProgress Last { get; private set; }

    public void Report(TreeProgress value)
    {
        Last = value;
        if (!value.Completed) Console.Error.WriteLine($"copying: {value.Entries} entries, {value.ContentBytes} bytes");
    }
}
