namespace RootfsForge.Definitions;

/// <summary>What a definition builds: a ZOS full VM (own kernel) or a container (ZOS's kernel, zinit).</summary>
public enum ImageKind
{
    /// <summary>A full VM: kernel and virtiofs initrd in /boot, made ZOS-ready and linted (docs/zos-vm.md §6).</summary>
    Vm,

    /// <summary>A container: the tree plus <c>/.startup.toml</c> and zinit services (docs/zos-vm.md §9).</summary>
    Container,
}

/// <summary>
/// One image, fully resolved: a definition file (<c>images/NAME.yaml</c>) with its recipes applied, every relative path
/// made absolute and every default filled in. Made by <see cref="DefinitionLoader.Load"/>; what <c>rootfsforge build</c>
/// builds. The schema is described in README.md, "Definitions". Add members, don't rename them: other commands
/// (check, dockerfile, CI) read this shape.
/// </summary>
public sealed record ImageDefinition
{
    /// <summary>The image's name: output file names (<c>NAME.tar.zst</c>, <c>NAME.fl</c>, <c>NAME.build.json</c>).</summary>
    public required string Name { get; init; }

    /// <summary>vm or container.</summary>
    public required ImageKind Kind { get; init; }

    /// <summary>Where the tree comes from.</summary>
    public required SourceSpec From { get; init; }

    /// <summary>Packages to install (after removals), with the image's own package manager. Duplicates removed, first kept.</summary>
    public IReadOnlyList<string> Install { get; init; } = [];

    /// <summary>Packages to remove (purge).</summary>
    public IReadOnlyList<string> Remove { get; init; } = [];

    /// <summary>Files written into the tree, in order (recipes' first).</summary>
    public IReadOnlyList<FileSpec> Files { get; init; } = [];

    /// <summary>Commands and scripts run in the tree (chroot), in order, after the files.</summary>
    public IReadOnlyList<RunStep> Run { get; init; } = [];

    /// <summary>Users created (after the commands).</summary>
    public IReadOnlyList<UserSpec> Users { get; init; } = [];

    /// <summary>Public keys (authorized_keys lines) written to root's <c>~/.ssh/authorized_keys</c> (<c>ssh:</c>).</summary>
    public IReadOnlyList<string> SshKeys { get; init; } = [];

    /// <summary>Services enabled: systemd units (vm) or zinit services (container).</summary>
    public IReadOnlyList<ServiceSpec> Services { get; init; } = [];

    /// <summary>The kernel (vm only; default: the image's own, else the distro family's package).</summary>
    public KernelSpec Kernel { get; init; } = KernelSpec.Image;

    /// <summary>Container: the program and arguments <c>/.startup.toml</c> starts (null: the OCI image's, else /bin/sh).</summary>
    public IReadOnlyList<string>? Entrypoint { get; init; }

    /// <summary>Container: environment of the entrypoint (added to the OCI image's; later values win).</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new SortedDictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Container: the entrypoint's working directory (null: the OCI image's, else /).</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Extra tree paths removed at the end (files or folders; globs in the last component).</summary>
    public IReadOnlyList<string> Cleanup { get; init; } = [];

    /// <summary>What is written.</summary>
    public IReadOnlyList<OutputDefinition> Outputs { get; init; } = [];

    /// <summary>Description, version, maintainer: <c>.fl</c> tags and the default hub name.</summary>
    public DefinitionMetadata Metadata { get; init; } = new();

    /// <summary>
    /// SOURCE_DATE_EPOCH: every time written later than this is written as this, and chroot commands see it. Null: taken
    /// from the source (the newest modification time in its tree, or the OCI image's creation time).
    /// </summary>
    public long? SourceDateEpoch { get; init; }

    /// <summary>The definition file (absolute).</summary>
    public required string File { get; init; }

    /// <summary>Every recipe file applied, in the order applied (a recipe included twice is listed twice).</summary>
    public IReadOnlyList<string> Recipes { get; init; } = [];
}

/// <summary>The source of a definition's tree (<c>from:</c>): exactly one of the derived records.</summary>
public abstract record SourceSpec
{
    /// <summary>The <see cref="ManifestSource.Type"/> it is recorded as: url, path, oci, mmdebstrap or debootstrap.</summary>
    public abstract string Type { get; }

    /// <summary>What <see cref="ManifestSource.Reference"/> records.</summary>
    public abstract string Reference { get; }

    private protected SourceSpec()
    {
    }
}

/// <summary>
/// A cloud image (qcow2/raw) or tar downloaded over HTTP(S), verified by SHA-256 before use: either pinned in the
/// definition (<see cref="Sha256"/>) or looked up by file name in a checksum file the distribution publishes
/// (<see cref="Sha256Sums"/>, GNU <c>HASH  NAME</c> or BSD <c>SHA256 (NAME) = HASH</c> lines).
/// </summary>
/// <param name="Url">The image's URL.</param>
/// <param name="Sha256">The expected SHA-256 (64 hex digits), or null.</param>
/// <param name="Sha256Sums">The checksum file's URL, or null.</param>
public sealed record UrlSource(Uri Url, string? Sha256, Uri? Sha256Sums) : SourceSpec
{
    /// <inheritdoc />
    public override string Type => "url";

    /// <inheritdoc />
    public override string Reference => Url.ToString();
}

/// <summary>A local cloud image, tar or directory (relative paths are resolved against the definition's folder).</summary>
/// <param name="Path">The absolute path.</param>
/// <param name="Written">The path as written in the definition (what the hash and the manifest record).</param>
public sealed record PathSource(string Path, string Written) : SourceSpec
{
    /// <inheritdoc />
    public override string Type => "path";

    /// <inheritdoc />
    public override string Reference => Written;
}

/// <summary>An OCI image pinned by digest: <c>docker://REPO@sha256:…</c> (also <c>oci:DIR</c>, <c>docker-archive:FILE</c>).</summary>
/// <param name="Image">The reference as written.</param>
public sealed record OciSource(string Image) : SourceSpec
{
    /// <inheritdoc />
    public override string Type => "oci";

    /// <inheritdoc />
    public override string Reference => Image;
}

/// <summary>A Debian-family tree made from scratch by <c>mmdebstrap</c> or <c>debootstrap</c> (cached by its parameters).</summary>
/// <param name="Tool">mmdebstrap or debootstrap.</param>
/// <param name="Suite">The suite (bookworm, jammy, …).</param>
/// <param name="Mirror">The mirror URL.</param>
/// <param name="Variant">The variant (minbase, buildd, …; null: the tool's default).</param>
/// <param name="Include">Extra packages.</param>
/// <param name="Components">Archive components (default: main).</param>
public sealed record BootstrapSource(string Tool, string Suite, string Mirror, string? Variant, IReadOnlyList<string> Include,
    IReadOnlyList<string> Components) : SourceSpec
{
    /// <inheritdoc />
    public override string Type => Tool;

    /// <inheritdoc />
    public override string Reference =>
        $"{Suite} {Mirror} variant={Variant ?? "default"} components={string.Join(',', Components)} include={string.Join(',', Include)}";
}

/// <summary>One file written into the tree: a copy of a host file or folder, or inline content.</summary>
/// <param name="Path">The absolute path in the tree.</param>
/// <param name="Source">The host file or folder (absolute), or null for inline content.</param>
/// <param name="Written">The source as written, relative to the images folder (what the hash records), or null.</param>
/// <param name="Content">Inline content (UTF-8), or null.</param>
/// <param name="Uid">Owner.</param>
/// <param name="Gid">Group.</param>
/// <param name="Mode">Permission bits; null keeps the host file's (inline content: 0644).</param>
public sealed record FileSpec(string Path, string? Source, string? Written, string? Content, uint Uid, uint Gid, int? Mode);

/// <summary>One <c>run:</c> item: a shell command (<c>sh -c</c>) or a host script (copied in, run, removed).</summary>
/// <param name="Command">The command, or null.</param>
/// <param name="Script">The host script (absolute), or null.</param>
/// <param name="Written">The script as written, relative to the images folder, or null.</param>
public sealed record RunStep(string? Command, string? Script, string? Written);

/// <summary>A user account (created with <c>useradd</c> in the chroot, or by editing passwd/group when the tree has none).</summary>
/// <param name="Name">Login name.</param>
/// <param name="Uid">Numeric id (null: the tool picks).</param>
/// <param name="Groups">Supplementary groups (created when missing).</param>
/// <param name="Shell">Login shell (null: the tool's default).</param>
/// <param name="SshKeys">Public keys written to <c>~/.ssh/authorized_keys</c>.</param>
public sealed record UserSpec(string Name, uint? Uid, IReadOnlyList<string> Groups, string? Shell, IReadOnlyList<string> SshKeys);

/// <summary>
/// A service: for a vm a systemd unit enabled (<see cref="Unit"/>, when given, is written to
/// <c>/etc/systemd/system/NAME</c> first); for a container a zinit service <c>/etc/zinit/NAME.yaml</c>.
/// </summary>
/// <param name="Name">vm: the unit name (<c>ssh.service</c>; <c>.service</c> added when there is no suffix); container: the zinit name.</param>
/// <param name="Exec">container: the command zinit runs (required there).</param>
/// <param name="Oneshot">container: run once instead of keeping it running.</param>
/// <param name="After">container: services this one waits for.</param>
/// <param name="Test">container: zinit's readiness test command.</param>
/// <param name="Unit">vm: the unit file's content to install.</param>
public sealed record ServiceSpec(string Name, string? Exec, bool Oneshot, IReadOnlyList<string> After, string? Test, string? Unit);

/// <summary>The kernel of a vm: the image's own (default), a <c>kernels/*.yaml</c> family's package, or a named package.</summary>
/// <param name="Family">A kernel definition family (its package is installed), or null.</param>
/// <param name="Package">A package name, or null.</param>
public sealed record KernelSpec(string? Family, string? Package)
{
    /// <summary>Keep the image's kernel (installing the family's when there is none).</summary>
    public static KernelSpec Image { get; } = new(null, null);
}

/// <summary>The kinds of output a definition names.</summary>
public enum OutputFormat
{
    /// <summary><c>NAME.tar</c>.</summary>
    Tar,

    /// <summary><c>NAME.tar.gz</c>.</summary>
    TarGz,

    /// <summary><c>NAME.tar.zst</c>.</summary>
    TarZst,

    /// <summary><c>NAME.fl</c> with blocks in <see cref="OutputDefinition.Stores"/>.</summary>
    Flist,

    /// <summary>A tar.gz uploaded to the 0-hub (only with <c>--push</c>).</summary>
    Hub,
}

/// <summary>One output.</summary>
/// <param name="Format">The format.</param>
/// <param name="Stores">.fl: the block stores (at least one).</param>
/// <param name="HubName">hub: the flist name (null: NAME-VERSION, or NAME without a version).</param>
/// <param name="HubUrl">hub: the hub's base URL.</param>
/// <param name="HubTokenFile">hub: a file holding the token (else <c>RFS_HUB_TOKEN</c>).</param>
public sealed record OutputDefinition(OutputFormat Format, IReadOnlyList<StoreSpec> Stores, string? HubName, Uri? HubUrl, string? HubTokenFile)
{
    /// <summary>The file name suffix (<c>.tar.zst</c>, <c>.fl</c>, …); empty for a hub upload.</summary>
    public string Suffix => Format switch
    {
        OutputFormat.Tar => ".tar",
        OutputFormat.TarGz => ".tar.gz",
        OutputFormat.TarZst => ".tar.zst",
        OutputFormat.Flist => ".fl",
        _ => "",
    };
}

/// <summary>
/// A block store of a <c>.fl</c> output. The URL in the definition never holds a secret: credentials come from an
/// environment variable or a file, as <c>USER:PASSWORD</c> (zdb) or <c>KEY:SECRET</c> (s3), and are put into the URL only
/// when the store is opened.
/// </summary>
/// <param name="Url">The store URL without credentials, optionally with a <c>xx-yy=</c> range prefix.</param>
/// <param name="CredentialsEnv">The environment variable holding the credentials, or null.</param>
/// <param name="CredentialsFile">The file holding them (absolute), or null.</param>
public sealed record StoreSpec(string Url, string? CredentialsEnv, string? CredentialsFile);

/// <summary>Free-form facts about the image, written as <c>.fl</c> tags.</summary>
/// <param name="Description">The <c>description</c> tag.</param>
/// <param name="Version">The <c>version</c> tag (also the hub name's suffix).</param>
/// <param name="Maintainer">The <c>author</c> tag.</param>
public sealed record DefinitionMetadata(string? Description = null, string? Version = null, string? Maintainer = null);
