using Microsoft.Win32.SafeHandles;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>A raw image file as a <see cref="BlockSource"/> (the tests' own; the library's raw source is another helper's).</summary>
internal sealed class FileBlockSource : BlockSource
{
    private readonly SafeFileHandle _handle;
    private readonly string _path;

    public FileBlockSource(string path)
    {
        _path = path;
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Length = RandomAccess.GetLength(_handle);
    }

    public override long Length { get; }

    public override int ReadAt(long offset, Span<byte> destination)
    {
        if (offset >= Length) return 0;
        return RandomAccess.Read(_handle, destination, offset);
    }

    public override string Describe() => $"raw image {Path.GetFileName(_path)}";

    protected override void Dispose(bool disposing)
    {
        if (disposing) _handle.Dispose();
    }
}
