using System.Globalization;

namespace RootfsForge.Steps;

/// <summary>
/// One <c>--copy</c>: a host file or folder copied into the tree. Syntax <c>SRC:DST[:UID:GID[:MODE]]</c>, MODE in octal:
/// <c>./motd:/etc/motd:0:0:0644</c>. A DST ending in <c>/</c> (or naming a directory of the tree) receives SRC under its
/// own name; a folder SRC is copied recursively into DST. Without UID:GID everything is owned by root (host owners mean
/// nothing in the image); without MODE files keep their host permission bits (directories get MODE plus x where r is set).
/// </summary>
/// <param name="Source">Host path.</param>
/// <param name="Destination">Absolute path in the tree.</param>
/// <param name="Uid">Owner in the image.</param>
/// <param name="Gid">Group in the image.</param>
/// <param name="Mode">Permission bits (0o7777), or null to keep the host's.</param>
public sealed record CopySpec(string Source, string Destination, uint Uid = 0, uint Gid = 0, int? Mode = null)
{
    /// <summary>Parses <c>SRC:DST[:UID:GID[:MODE]]</c>.</summary>
    public static CopySpec Parse(string text)
    {
        var parts = text.Split(':');
        if (parts.Length is not (2 or 4 or 5) || parts[0].Length == 0 || parts[1].Length == 0)
            throw new FormatException($"--copy '{text}': expected SRC:DST[:UID:GID[:MODE]]");
        if (!parts[1].StartsWith('/')) throw new FormatException($"--copy '{text}': DST must be an absolute path in the image");
        uint uid = 0, gid = 0;
        int? mode = null;
        if (parts.Length >= 4 && (!uint.TryParse(parts[2], CultureInfo.InvariantCulture, out uid)
                                  || !uint.TryParse(parts[3], CultureInfo.InvariantCulture, out gid)))
            throw new FormatException($"--copy '{text}': UID and GID must be numbers");
        if (parts.Length == 5)
        {
            try
            {
                mode = Convert.ToInt32(parts[4], 8);
            }
            catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
            {
                throw new FormatException($"--copy '{text}': MODE must be octal, like 0644");
            }
            if (mode is < 0 or > 0xFFF) throw new FormatException($"--copy '{text}': MODE must be at most 7777");
        }
        return new CopySpec(parts[0], parts[1], uid, gid, mode);
    }
}
