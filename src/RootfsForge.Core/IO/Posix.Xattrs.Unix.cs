using System.Runtime.InteropServices;
using RootfsForge.Tree;

namespace RootfsForge.IO;

/// <summary>
/// Extended attributes of an open file (the f* calls) or of a name in an open directory (the l* calls through
/// <c>/proc/self/fd/N/name</c>: Linux has no *at form of them before 6.13, and the l* calls do not follow a final symlink).
/// </summary>
internal static unsafe partial class Posix
{
    /// <summary>The longest name list read (the VFS's XATTR_LIST_MAX).</summary>
    private const int MaxXattrListSize = 1 << 16;

    /// <summary>Where an attribute call applies: an open handle, or a name inside an open directory.</summary>
    public readonly struct XattrTarget
    {
        private readonly SafeHandle _handle;
        private readonly byte[]? _procPath;

        private XattrTarget(SafeHandle handle, byte[]? procPath, string pathForErrors)
        {
            _handle = handle;
            _procPath = procPath;
            PathForErrors = pathForErrors;
        }

        /// <summary>The path the messages name.</summary>
        public string PathForErrors { get; }

        /// <summary>The file open as <paramref name="fd"/> (not an O_PATH handle).</summary>
        public static XattrTarget OfHandle(SafeHandle fd, string pathForErrors) => new(fd, null, pathForErrors);

        /// <summary><paramref name="name"/> in the directory open as <paramref name="directory"/>, not following a final symlink.</summary>
        public static XattrTarget InDirectory(SafeHandle directory, ReadOnlySpan<byte> name, string pathForErrors) =>
            new(directory, ProcPath(directory, name), pathForErrors);

        internal nint List(byte* list, nuint size)
        {
            if (_procPath is null) return flistxattr(_handle, list, size);
            bool added = false;
            try
            {
                _handle.DangerousAddRef(ref added); // keeps the descriptor the path names open
                fixed (byte* p = _procPath) return llistxattr(p, list, size);
            }
            finally
            {
                if (added) _handle.DangerousRelease();
            }
        }

        internal nint Get(byte* name, byte* value, nuint size)
        {
            if (_procPath is null) return fgetxattr(_handle, name, value, size);
            bool added = false;
            try
            {
                _handle.DangerousAddRef(ref added);
                fixed (byte* p = _procPath) return lgetxattr(p, name, value, size);
            }
            finally
            {
                if (added) _handle.DangerousRelease();
            }
        }

        internal int Set(byte* name, byte* value, nuint size)
        {
            if (_procPath is null) return fsetxattr(_handle, name, value, size, 0);
            bool added = false;
            try
            {
                _handle.DangerousAddRef(ref added);
                fixed (byte* p = _procPath) return lsetxattr(p, name, value, size, 0);
            }
            finally
            {
                if (added) _handle.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// The names of the attributes of <paramref name="target"/>, each as bytes; empty when the filesystem has none or
    /// does not support them (ENOTSUP) or they may not be listed by us (EPERM, EACCES).
    /// </summary>
    public static List<byte[]> ListXattrs(XattrTarget target)
    {
        var names = new List<byte[]>();
        for (int attempt = 0; ; attempt++)
        {
            nint size = target.List(null, 0);
            if (size < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno is ENOTSUP or EPERM or EACCES) return names;
                throw Error("llistxattr", target.PathForErrors, errno);
            }
            if (size == 0) return names;
            var list = new byte[Math.Min((long)size * 2 + 256, MaxXattrListSize)];
            fixed (byte* l = list) size = target.List(l, (nuint)list.Length);
            if (size < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                // The list grew between the two calls: ask again.
                if (errno == ERANGE && attempt < 4) continue;
                throw Error("llistxattr", target.PathForErrors, errno);
            }
            foreach (var name in list.AsSpan(0, (int)size).Split((byte)0))
            {
                var bytes = list.AsSpan(0, (int)size)[name];
                if (!bytes.IsEmpty) names.Add(bytes.ToArray());
            }
            return names;
        }
    }

    /// <summary>
    /// The value of the attribute <paramref name="name"/> of <paramref name="target"/>; null when it is absent (ENODATA,
    /// e.g. removed since it was listed). A value that keeps changing size over several attempts fails with ERANGE.
    /// </summary>
    public static byte[]? GetXattr(XattrTarget target, ReadOnlySpan<byte> name)
    {
        var nameZ = CString(name);
        fixed (byte* k = nameZ)
        {
            for (int attempt = 0; attempt < 4; attempt++)
            {
                nint size = target.Get(k, null, 0);
                if (size < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == ENODATA) return null;
                    throw Error("lgetxattr " + FileNameEncoding.GetString(name), target.PathForErrors, errno);
                }
                var value = new byte[size];
                fixed (byte* v = value) size = target.Get(k, v, (nuint)value.Length);
                if (size >= 0) return size == value.Length ? value : value.AsSpan(0, (int)size).ToArray();
                int again = Marshal.GetLastPInvokeError();
                if (again == ENODATA) return null;
                // ERANGE: the value grew between the two calls; ask again.
                if (again != ERANGE) throw Error("lgetxattr " + FileNameEncoding.GetString(name), target.PathForErrors, again);
            }
        }
        throw Error("lgetxattr " + FileNameEncoding.GetString(name), target.PathForErrors, ERANGE);
    }

    /// <summary>Sets the attribute <paramref name="name"/> of <paramref name="target"/>; 0 or the errno (the caller decides what it means).</summary>
    public static int TrySetXattr(XattrTarget target, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* k = CString(System.Text.Encoding.UTF8.GetBytes(name)))
        fixed (byte* v = value)
            return target.Set(k, v, (nuint)value.Length) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>The number of extended attributes of <paramref name="path"/> (not following a final symlink); 0 on any error.</summary>
    public static int ListXattrCount(string path)
    {
        var z = CString(path);
        fixed (byte* p = z)
        {
            nint size = llistxattr(p, null, 0);
            if (size <= 0) return 0;
            var buffer = new byte[Math.Min((long)size * 2 + 256, MaxXattrListSize)];
            fixed (byte* b = buffer) size = llistxattr(p, b, (nuint)buffer.Length);
            return size <= 0 ? 0 : buffer.AsSpan(0, (int)size).Count((byte)0);
        }
    }
}
