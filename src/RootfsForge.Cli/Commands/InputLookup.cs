using System.CommandLine;
using RootfsForge.Sources;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary>
/// A command's tree input opened for path lookups (<c>ls</c>, <c>cat</c>): a disk image answers from its filesystem
/// directly; any other input (tar, directory, <c>.fl</c>, container image) is opened through <see cref="TreeInput"/>
/// and indexed once (<see cref="TreeIndex"/>, metadata only; contents read on demand from the open input).
/// </summary>
internal sealed class InputLookup : IAsyncDisposable
{
    private readonly TreeInput _input;

    private InputLookup(TreeInput input, ITreeLookup tree)
    {
        _input = input;
        Tree = tree;
    }

    public ITreeLookup Tree { get; }

    /// <summary>
    /// Opens <paramref name="path"/> (checked first: a missing input or malformed reference is exit 2); container image
    /// download progress and the layers applied go to stderr only when <paramref name="report"/> is verbose.
    /// </summary>
    public static async Task<InputLookup> OpenAsync(ParseResult parse, ImageOptions images, string path, CloudImageOptions disk,
        Reporter report, CancellationToken ct)
    {
        ImageOptions.CheckInput(path);
        var input = await images.OpenInputAsync(parse, path, report.Quiet, ct, disk).ConfigureAwait(false);
        try
        {
            if (input.DiskImage is { } image)
            {
                report.WarnAll(image.Warnings);
                report.Detail($"rootfsforge: {image.Disk.Format} image {image.Disk.ResolvedPath}, {image.PartitionTable.Scheme} partitions, root partition {image.RootPartition.Number} ({image.FileSystem.Info.Kind}, {Format.Bytes(image.FileSystem.Info.UsedBytes)} used)");
                return new InputLookup(input, image.FileSystem);
            }
            var index = await TreeIndex.BuildAsync(input.Tree, ct).ConfigureAwait(false);
            report.WarnAll(input.Warnings);
            return new InputLookup(input, index);
        }
        catch
        {
            await input.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync() => _input.DisposeAsync();
}
