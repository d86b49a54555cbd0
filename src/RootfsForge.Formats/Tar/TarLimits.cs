using RootfsForge.Tree;

namespace RootfsForge.Tar;

/// <summary>
/// Bounds on what an archive can make the reader hold, so a hostile archive costs bounded memory and time: past each,
/// reading stops with an <see cref="ImageFormatException"/> of kind <see cref="ImageErrorKind.LimitExceeded"/>. The entry
/// count is an option (<see cref="TarArchiveSourceOptions.MaxEntries"/>); metadata grows with it, never with content.
/// </summary>
internal static class TarLimits
{
    /// <summary>One pax extended header (<c>x</c>), and all global headers (<c>g</c>) of an archive together.</summary>
    public const int MaxPaxHeaderSize = 64 << 20;

    /// <summary>A name or link name in bytes (GNU <c>L</c>/<c>K</c>, pax <c>path</c>/<c>linkpath</c>/<c>GNU.sparse.name</c>).</summary>
    public const int MaxNameLength = TreePath.MaxLength;

    /// <summary>Components of one name (the walk's own depth limit).</summary>
    public const int MaxNameDepth = TreeWalker<object>.DefaultMaxDepth;

    /// <summary>Data segments of one sparse member, in any of the four sparse formats.</summary>
    public const int MaxSparseSegments = 1 << 20;
}
