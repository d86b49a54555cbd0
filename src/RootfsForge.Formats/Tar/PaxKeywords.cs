namespace RootfsForge.Tar;

/// <summary>
/// The pax extended header keywords RootfsForge reads and writes: POSIX (IEEE Std 1003.1, pax "pax Extended Header"),
/// GNU tar's sparse keywords (GNU tar manual, "Storing Sparse Files"), star's <c>SCHILY.*</c> and libarchive's
/// <c>LIBARCHIVE.xattr.*</c> (docs/tar-output.md §5, §10).
/// </summary>
internal static class PaxKeywords
{
    public const string Path = "path";
    public const string LinkPath = "linkpath";
    public const string Size = "size";
    public const string Uid = "uid";
    public const string Gid = "gid";
    public const string MTime = "mtime";
    public const string ATime = "atime";
    public const string CTime = "ctime";
    public const string HdrCharset = "hdrcharset";

    /// <summary>GNU sparse 1.0: the real name (the header holds <c>%d/GNUSparseFile.%p/%f</c>).</summary>
    public const string GnuSparseName = "GNU.sparse.name";
    public const string GnuSparseMajor = "GNU.sparse.major";
    public const string GnuSparseMinor = "GNU.sparse.minor";

    /// <summary>GNU sparse 1.0: the real file size.</summary>
    public const string GnuSparseRealSize = "GNU.sparse.realsize";

    /// <summary>GNU sparse 0.0 and 0.1: the real file size.</summary>
    public const string GnuSparseSize = "GNU.sparse.size";

    /// <summary>GNU sparse 0.0: the number of (offset, numbytes) pairs that follow.</summary>
    public const string GnuSparseNumBlocks = "GNU.sparse.numblocks";

    /// <summary>GNU sparse 0.0: one segment's offset, repeated for each segment.</summary>
    public const string GnuSparseOffset = "GNU.sparse.offset";

    /// <summary>GNU sparse 0.0: one segment's length, repeated for each segment.</summary>
    public const string GnuSparseNumBytes = "GNU.sparse.numbytes";

    /// <summary>GNU sparse 0.1: all offsets and lengths, comma-separated.</summary>
    public const string GnuSparseMap = "GNU.sparse.map";

    public const string SchilyDevMajor = "SCHILY.devmajor";
    public const string SchilyDevMinor = "SCHILY.devminor";

    /// <summary>Prefix of an extended attribute with its raw value (star, GNU tar <c>--xattrs</c>).</summary>
    public const string SchilyXattrPrefix = "SCHILY.xattr.";

    /// <summary>Prefix of an extended attribute with a percent-encoded name and a base64 value (libarchive).</summary>
    public const string LibarchiveXattrPrefix = "LIBARCHIVE.xattr.";
}
