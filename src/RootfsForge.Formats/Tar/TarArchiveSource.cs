using Microsoft.Win32.SafeHandles;
using RootfsForge.Tree;

namespace RootfsForge.Tar;

/// <summary>
/// Reads a tar archive as a tree: ustar, POSIX pax (long names, <c>hdrcharset=BINARY</c>, large ids and sizes, ns times,
/// <c>SCHILY.xattr.*</c> and <c>LIBARCHIVE.xattr.*</c>) and GNU (long names <c>L</c>/<c>K</c>, base-256 numbers, old sparse
/// <c>S</c>, pax sparse 0.0, 0.1 and 1.0), plain, gzip or zstd (detected by magic). See docs/tar-output.md §10.
/// </summary>
/// <remarks>
/// <para>The first walk reads the archive: an uncompressed archive file is read in place; a compressed archive, or one
/// given as a stream, is first decompressed into an unlinked temporary file, so file content can be served at random
/// offsets. The metadata of all members is then collected (memory grows with the member count, never with content) and
/// the tree is emitted in <see cref="ITreeSource.WalkAsync"/> order, whatever the archive's order.</para>
/// <para>The tree is what extracting the archive would leave: a later member replaces an earlier one with the same name
/// (a directory merges into a directory); missing parent directories are made (0755, root-owned, time 0) and reported;
/// hard links share their target's metadata and content, and the first name emitted holds the content. Absolute names
/// are made relative and <c>..</c> components are resolved lexically, never leaving the root (both with a warning);
/// a member below a symlink or file is skipped with a warning. OCI whiteouts are not applied: a layer read alone is an
/// ordinary tree. Multi-volume archives are refused. Content readers stay valid until the source is disposed.</para>
/// </remarks>
public sealed class TarArchiveSource : ITreeSource, IDisposable
{
    private readonly TarArchiveSourceOptions _options;
    private readonly string _description;
    private SafeFileHandle? _file;
    private Stream? _stream;
    private readonly bool _leaveOpen;
    private TarArchive? _archive;
    private TarIndex? _index;
    private bool _disposed;

    /// <summary>Opens the archive file <paramref name="path"/> (it is read on the first walk).</summary>
    /// <exception cref="IOException">The file cannot be opened.</exception>
    public TarArchiveSource(string path, TarArchiveSourceOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _options = options ?? new TarArchiveSourceOptions();
        _description = path;
        _file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
    }

    /// <summary>Reads an archive from a stream: on the first walk it is read to its end and decompressed into an unlinked
    /// temporary file, then closed unless <paramref name="leaveOpen"/>.</summary>
    public TarArchiveSource(Stream stream, TarArchiveSourceOptions? options = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _options = options ?? new TarArchiveSourceOptions();
        _description = "tar stream";
        _stream = stream;
        _leaveOpen = leaveOpen;
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Warnings => _index?.Warnings ?? [];

    /// <inheritdoc />
    /// <exception cref="ImageFormatException">The archive is corrupt, or passes a limit (<see cref="TarArchiveSourceOptions.MaxEntries"/>).</exception>
    public async IAsyncEnumerable<TreeEntry> WalkAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var index = _index ?? await ReadAsync(cancellationToken).ConfigureAwait(false);
        foreach (var entry in index.Walk(cancellationToken)) yield return entry;
    }

    /// <summary>Closes the archive (and deletes the temporary copy); content readers stop working.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _archive?.Dispose();
        _file?.Dispose();
        if (!_leaveOpen) _stream?.Dispose();
    }

    private async Task<TarIndex> ReadAsync(CancellationToken cancellationToken)
    {
        if (_archive is null)
        {
            if (_file is { } file)
            {
                _file = null; // the archive owns it from here
                _archive = await TarArchive.OpenAsync(file, _description, _options.TemporaryDirectory, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var stream = _stream ?? throw new InvalidOperationException("the archive stream could not be read (an earlier walk failed)");
                try
                {
                    _archive = await TarArchive.OpenAsync(stream, _description, _options.TemporaryDirectory, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    if (!_leaveOpen) await stream.DisposeAsync().ConfigureAwait(false);
                    _stream = null;
                }
            }
        }
        var index = new TarIndex(_options.MaxEntries);
        index.ApplyLayer(_archive, ociLayer: false, cancellationToken);
        return _index = index;
    }
}
