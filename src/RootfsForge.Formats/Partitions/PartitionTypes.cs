namespace RootfsForge.Partitions;

/// <summary>Well-known GPT partition type GUIDs (UEFI, Discoverable Partitions Specification) and MBR type bytes.</summary>
internal static class PartitionTypes
{
    public static readonly Guid LinuxFileSystem = new("0FC63DAF-8483-4772-8E79-3D69D8477DE4");
    public static readonly Guid RootX86_64 = new("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");
    public static readonly Guid RootArm64 = new("B921B045-1DF0-41C3-AF44-4C6F280D3FAE");
    public static readonly Guid UsrX86_64 = new("8484680C-9521-48C6-9C11-B0720656F69E");
    public static readonly Guid ExtendedBoot = new("BC13C2FF-59E6-4262-A352-B275FD6F7172");
    public static readonly Guid EfiSystem = new("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    public static readonly Guid BiosBoot = new("21686148-6449-6E6F-744E-656564454649");
    public static readonly Guid LinuxSwap = new("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F");
    public static readonly Guid LinuxLvm = new("E6D6D379-F507-44C2-A23C-238F2A3DF928");
    public static readonly Guid LinuxRaid = new("A19D880F-05FC-4D3B-A006-743F0F84911E");
    public static readonly Guid LinuxHome = new("933AC7E1-2EB4-4F13-B844-0E14E2AEF915");
    public static readonly Guid MicrosoftBasicData = new("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");

    public const byte MbrEmpty = 0x00;
    public const byte MbrLinux = 0x83;
    public const byte MbrLinuxSwap = 0x82;
    public const byte MbrLinuxLvm = 0x8E;
    public const byte MbrEfiSystem = 0xEF;
    public const byte MbrGptProtective = 0xEE;

    public static bool IsMbrExtended(byte type) => type is 0x05 or 0x0F or 0x85;

    public static string NameOf(Guid type)
    {
        if (type == LinuxFileSystem) return "Linux filesystem";
        if (type == RootX86_64) return "Linux root (x86-64)";
        if (type == RootArm64) return "Linux root (ARM64)";
        if (type == UsrX86_64) return "Linux /usr (x86-64)";
        if (type == ExtendedBoot) return "Linux extended boot";
        if (type == EfiSystem) return "EFI System";
        if (type == BiosBoot) return "BIOS boot";
        if (type == LinuxSwap) return "Linux swap";
        if (type == LinuxLvm) return "Linux LVM";
        if (type == LinuxRaid) return "Linux RAID";
        if (type == LinuxHome) return "Linux home";
        if (type == MicrosoftBasicData) return "Microsoft basic data";
        return $"unknown type {type}";
    }

    public static string NameOf(byte mbrType) => mbrType switch
    {
        MbrLinux => "Linux",
        MbrLinuxSwap => "Linux swap",
        MbrLinuxLvm => "Linux LVM",
        MbrEfiSystem => "EFI System",
        MbrGptProtective => "GPT protective",
        0x05 or 0x0F or 0x85 => "Extended",
        0x01 => "FAT12",
        0x04 or 0x06 or 0x0E => "FAT16",
        0x0B or 0x0C => "W95 FAT32",
        0x07 => "HPFS/NTFS/exFAT",
        0xFD => "Linux raid autodetect",
        _ => $"unknown type 0x{mbrType:x2}",
    };
}
