using System.Runtime.InteropServices;

namespace RootfsForge.IO;

/// <summary>Mounts and signals, for the build steps (chroot sessions, the boot test).</summary>
internal static unsafe partial class Posix
{
    /// <summary>mount(2); null arguments are passed as NULL.</summary>
    public static void Mount(string? source, string target, string? fstype, ulong flags, string? data)
    {
        byte[]? s = source is null ? null : CString(source);
        byte[] t = CString(target);
        byte[]? f = fstype is null ? null : CString(fstype);
        byte[]? d = data is null ? null : CString(System.Text.Encoding.UTF8.GetBytes(data));
        fixed (byte* ps = s)
        fixed (byte* pt = t)
        fixed (byte* pf = f)
        fixed (byte* pd = d)
        {
            if (mount(ps, pt, pf, flags, pd) != 0) throw LastError($"mount {fstype ?? source} on", target);
        }
    }

    /// <summary>umount2(2) with UMOUNT_NOFOLLOW; returns the errno (0 on success).</summary>
    public static int Umount(string target, int flags)
    {
        fixed (byte* p = CString(target))
            return umount2(p, flags | UMOUNT_NOFOLLOW) < 0 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>kill(2); a process that is already gone (ESRCH) is not an error.</summary>
    public static void Kill(int pid, int signal) => kill(pid, signal);
}
