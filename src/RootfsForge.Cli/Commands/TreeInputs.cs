using RootfsForge.Sources.Directories;
using RootfsForge.Sources.Flist;
using RootfsForge.Tar;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary>An opened tree input and what must be closed with it.</summary>
internal sealed class TreeInput(ITreeSource tree, IDisposable? owner) : IAsyncDisposable
{
    public ITreeSource Tree { get; } = tree;

    public async ValueTask DisposeAsync()
    {
        if (owner is IAsyncDisposable a) await a.DisposeAsync().ConfigureAwait(false);
        else owner?.Dispose();
    }
}

/// <summary>
/// Opens any tree the read-only commands accept: a directory, a <c>.fl</c> (blocks through its routes), a tar
/// (.tar, .tar.gz/.tgz, .tar.zst, .tar.xz, .tar.bz2) or a disk image (qcow2, raw, bare ext2/3/4; partition chosen
/// automatically). The one place <c>fl diff</c> and <c>check</c> open inputs; the containers branch unifies this with
/// the other commands' opening.
/// </summary>
internal static class TreeInputs
{
    private static readonly string[] TarSuffixes = [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".tar.bz2"];

    public static TreeInput Open(string path)
    {
        if (Directory.Exists(path)) return new TreeInput(new DirectorySource(path), null);
        if (!File.Exists(path)) throw new UsageException($"{path}: no such file or directory");
        if (IsSqlite(path))
        {
            var fl = FlistSource.Open(path);
            return new TreeInput(fl, fl);
        }
        if (TarSuffixes.Any(s => path.EndsWith(s, StringComparison.OrdinalIgnoreCase)))
        {
            var tar = new TarArchiveSource(path);
            return new TreeInput(tar, tar);
        }
        var image = CloudImage.Open(path);
        foreach (var w in image.Warnings) Console.Error.WriteLine($"rootfsforge: warning: {w}");
        return new TreeInput(image.FileSystem, image);
    }

    /// <summary>A .fl is an SQLite 3 database: its header starts with "SQLite format 3\0" whatever the file is named.</summary>
    private static bool IsSqlite(string path)
    {
        Span<byte> head = stackalloc byte[16];
        using var f = File.OpenHandle(path);
        return RandomAccess.Read(f, head, 0) == 16 && head.SequenceEqual("SQLite format 3\0"u8);
    }
}
