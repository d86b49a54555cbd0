using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using RootfsForge.IO;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Directories;

/// <summary>
/// Which extended attributes a <see cref="DirectorySink"/> may drop when the target refuses them, and how the drops are
/// reported. Dropped: too large for the inode's xattr space (ENOSPC on a target that still has space), above the VFS's
/// 64 KiB limit (E2BIG), an unknown namespace or no xattrs at all (EOPNOTSUPP), not allowed on that kind of node (EPERM:
/// <c>user.*</c> on a symlink or device, <c>trusted.*</c> without CAP_SYS_ADMIN), and, without privileges, what only
/// root may set (EACCES, EINVAL). Each drop is counted; the first ten are named one by one, then only counted, except
/// that every dropped <c>security.*</c>, <c>trusted.*</c> and <c>system.*</c> attribute (capabilities, ACLs, labels)
/// is always named. Any other errno fails the sink.
/// </summary>
internal sealed class XattrDropPolicy(SinkCounters counters, bool privileged)
{
    /// <summary>Dropped xattrs outside the security-relevant namespaces that get a warning of their own.</summary>
    private const int MaxDetailedWarnings = 10;

    /// <summary>An ENOSPC from setxattr with less free space than this on the target is a full target, not a too-large value.</summary>
    private const ulong FullTargetFreeBytes = 1 << 20;

    private int _detailedWarnings;
    private long _unreported;

    /// <summary>
    /// Records that setting <paramref name="xattr"/> on <paramref name="entry"/> failed with <paramref name="errno"/>:
    /// a drop the target forces (counted, warned) or a failure (thrown). <paramref name="onTarget"/> is a handle on the
    /// target filesystem, to tell a full target from a value too large for the inode.
    /// </summary>
    /// <exception cref="IOException">The failure is not one the target's limits explain.</exception>
    public void Refused(ExtendedAttribute xattr, TreeEntry entry, int errno, SafeFileHandle onTarget)
    {
        bool droppable = errno switch
        {
            Posix.ENOSPC => !IsTargetFull(onTarget),
            Posix.E2BIG or Posix.ENOTSUP or Posix.EPERM => true,
            Posix.EACCES or Posix.EINVAL => !privileged,
            _ => false,
        };
        if (!droppable) throw Posix.Error($"setxattr {xattr.Name}", entry.Path, errno);
        counters.CountDroppedAttributes(1);
        bool securityRelevant = xattr.Name.StartsWith("security.", StringComparison.Ordinal)
            || xattr.Name.StartsWith("trusted.", StringComparison.Ordinal) || xattr.Name.StartsWith("system.", StringComparison.Ordinal);
        if (!securityRelevant && _detailedWarnings >= MaxDetailedWarnings)
        {
            _unreported++;
            return;
        }
        if (!securityRelevant) _detailedWarnings++;
        counters.Warn($"'{TreePath.Printable(entry.Path)}': xattr {TreePath.Printable(xattr.Name)} ({xattr.Value.Length} bytes) not restored: "
                      + $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
    }

    /// <summary>Warns once about the drops that were only counted (after the first ten ordinary ones), if any.</summary>
    public void WarnUnreported()
    {
        if (_unreported > 0)
            counters.Warn($"{_unreported} more xattrs not restored ({counters.Snapshot().DroppedAttributes} in total)");
    }

    /// <summary>Whether the filesystem of <paramref name="fd"/> has (almost) no space left for us.</summary>
    private static bool IsTargetFull(SafeFileHandle fd) =>
        Posix.FreeBytes(fd) is not ulong free || free < FullTargetFreeBytes; // cannot tell: do not guess the error away
}
