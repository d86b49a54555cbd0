namespace RootfsForge.Steps;

/// <summary>
/// The rules of docs/zos-vm.md that both <see cref="ZosPreparation"/> (which makes a tree follow them) and the linter (which
/// checks them) apply, in one place.
/// </summary>
internal static class ZosRules
{
    /// <summary>
    /// True for an active fstab line mounting /, /boot, /boot/efi or a swap area: block devices a ZOS VM does not have,
    /// its root being virtio-fs (docs/zos-vm.md §6 step 7, lint V9).
    /// </summary>
    public static bool IsBlockDeviceEntry(string line)
    {
        var fields = line.Trim().Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 3 || fields[0].StartsWith('#')) return false;
        return fields[1] is "/" or "/boot" or "/boot/efi" or "/efi" || fields[2] == "swap";
    }

    /// <summary>The build host's /etc/resolv.conf, to recognise a copy of it left in a tree (lint V11); null when absent.</summary>
    public static string? ReadBuildHostResolvConf() => File.Exists("/etc/resolv.conf") ? File.ReadAllText("/etc/resolv.conf") : null;
}
