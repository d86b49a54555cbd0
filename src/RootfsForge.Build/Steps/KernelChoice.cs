namespace RootfsForge.Steps;

/// <summary>
/// What <c>--kernel</c> asks for: <c>image</c> (keep the image's kernel, else install the distro's virtual/cloud kernel),
/// a package name, or host files <c>vmlinuz=PATH,initrd=PATH</c>.
/// </summary>
public sealed record KernelChoice
{
    /// <summary>The default: the image's own kernel.</summary>
    public static KernelChoice Image { get; } = new();

    /// <summary>A package to install (null for <see cref="Image"/> and host files).</summary>
    public string? Package { get; init; }

    /// <summary>Host kernel file.</summary>
    public string? HostKernel { get; init; }

    /// <summary>Host initrd file.</summary>
    public string? HostInitrd { get; init; }

    /// <summary>Parses the <c>--kernel</c> value.</summary>
    public static KernelChoice Parse(string text)
    {
        if (text is "" or "image") return Image;
        if (!text.Contains('='))
        {
            if (text.StartsWith('-') || text.Any(char.IsWhiteSpace)) throw new FormatException($"--kernel '{text}' is not a package name");
            return new KernelChoice { Package = text };
        }
        string? kernel = null, initrd = null;
        foreach (var part in text.Split(','))
        {
            var kv = part.Split('=', 2);
            switch (kv[0])
            {
                case "vmlinuz" when kv.Length == 2 && kv[1].Length > 0: kernel = kv[1]; break;
                case "initrd" when kv.Length == 2 && kv[1].Length > 0: initrd = kv[1]; break;
                default: throw new FormatException($"--kernel '{text}': expected vmlinuz=PATH[,initrd=PATH]");
            }
        }
        if (kernel is null) throw new FormatException($"--kernel '{text}': vmlinuz=PATH is required");
        return new KernelChoice { HostKernel = kernel, HostInitrd = initrd };
    }
}

/// <summary>What the kernel step did.</summary>
/// <param name="Version">The kernel version /boot/vmlinuz points at (null for host files).</param>
/// <param name="Kernel">The tree path /boot/vmlinuz resolves to.</param>
/// <param name="Initrd">The tree path /boot/initrd.img resolves to, or null.</param>
/// <param name="Uncompressed">The tree path of the extracted ELF kernel, when requested.</param>
public sealed record KernelResult(string? Version, string Kernel, string? Initrd, string? Uncompressed);
