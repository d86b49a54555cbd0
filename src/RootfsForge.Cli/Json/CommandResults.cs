namespace RootfsForge.Cli.Json;

// The documents `--json` writes on standard output, one per command run (docs/cli-json.md). Each has a fixed
// "schema" value "rootfsforge.<command>/v1"; a field is only ever added within v1, never renamed, retyped or removed
// (that would be v2). Sizes are bytes, times seconds, paths as given on the command line unless said otherwise.

/// <summary>What was written: the output named by <c>-o</c> (docs/cli-json.md §2).</summary>
/// <param name="Kind">tar, stdout, directory, fl or hub.</param>
/// <param name="Path">The file or directory (absolute), the hub name, or "-".</param>
/// <param name="Compression">none, gzip or zstd for a tar.</param>
/// <param name="Bytes">Size of the written file (tar, .fl); null for a directory, stdout and hub.</param>
/// <param name="Sha256">SHA-256 of the written file (tar, .fl), lowercase hex; null otherwise.</param>
/// <param name="Published">Where <c>--publish</c> copied the .fl.</param>
/// <param name="Flist">Block statistics of a .fl output.</param>
/// <param name="Hub">The hub's answer for a hub output.</param>
internal sealed record OutputResult(string Kind, string Path, string? Compression, long? Bytes, string? Sha256,
    string? Published, FlistBlocksResult? Flist, HubResult? Hub);

/// <summary>A .fl build's block statistics and the stores it wrote to (URLs without secrets).</summary>
internal sealed record FlistBlocksResult(long Files, long Blocks, long BytesIn, long BytesStored, long BlocksUploaded,
    long BlocksAlreadyPresent, long BlocksDuplicate, long BlocksKnown, IReadOnlyList<string> Stores);

/// <summary>The hub's answer to an upload.</summary>
internal sealed record HubResult(string Name, string? User, string? Url, string? Md5, string? JobId);

/// <summary>What a tree copy wrote (every command that writes a tree).</summary>
internal sealed record TreeResult(long Entries, long ContentBytes, long SkippedSockets, long DroppedAttributes);

/// <summary>One lint check (docs/zos-vm.md §7): id V1…, severity info|warning|error, passed, message.</summary>
internal sealed record LintFindingResult(string Id, string Severity, bool Passed, string Message);

/// <summary>A lint run: passed is false when an error-severity check failed (exit 4).</summary>
internal sealed record LintResult(bool Passed, int Errors, int Warnings, IReadOnlyList<LintFindingResult> Findings);

/// <summary>
/// <c>rootfsforge.extract/v1</c> and <c>rootfsforge.container/v1</c> share this shape (docs/cli-json.md §3); <c>lint</c>
/// is the container checks of <c>container</c> (null for extract and with --no-lint).
/// </summary>
internal sealed record ExtractResult(string Schema, string Source, int? Partition, string? Digest, OutputResult Output,
    TreeResult Tree, double ElapsedSeconds, IReadOnlyList<string> Warnings, LintResult? Lint = null);

/// <summary>One timed step of a VM build.</summary>
internal sealed record StepResult(string Name, double Seconds);

/// <summary>The kernel a VM build installed.</summary>
internal sealed record KernelResult(string Kernel, string? Initrd);

/// <summary><c>rootfsforge.vm/v1</c>.</summary>
internal sealed record VmResult(string Schema, string Source, OutputResult? Output, TreeResult? Tree,
    IReadOnlyList<StepResult> Steps, long SizeBefore, long SizeAfter, KernelResult? Kernel, LintResult? Lint,
    double ElapsedSeconds, IReadOnlyList<string> Warnings, string? Error);

/// <summary><c>rootfsforge.lint/v1</c>.</summary>
internal sealed record LintCommandResult(string Schema, string Target, string Kind, LintResult Lint);

/// <summary>A route of a .fl (secrets removed).</summary>
internal sealed record RouteResult(string Start, string End, string Url);

/// <summary><c>rootfsforge.fl-info/v1</c>.</summary>
internal sealed record FlInfoResult(string Schema, string File, long Bytes, string Sha256, int Inodes, int Directories,
    int Files, int Symlinks, int Other, long BlockRows, long ContentBytes, long FilesWithWrongBlockCount, int Unreachable,
    IReadOnlyList<RouteResult> Routes, IReadOnlyDictionary<string, string> Tags, IReadOnlyList<string> Warnings);

/// <summary><c>rootfsforge.fl-verify/v1</c>.</summary>
internal sealed record FlVerifyResult(string Schema, string File, bool Ok, int DistinctBlocks, IReadOnlyList<string> Problems,
    double ElapsedSeconds, string? Signature);

/// <summary><c>rootfsforge.push/v1</c>.</summary>
internal sealed record PushResult(string Schema, string File, long? Bytes, HubResult Hub, double ElapsedSeconds);

/// <summary>An output a definition build wrote (from its manifest): path absolute for files, hub:NAME for a hub upload.</summary>
internal sealed record BuildOutputResult(string Kind, string Path, string? Sha256, long? Bytes, long? Blocks);

/// <summary>The source a definition build started from, as pinned (type, reference, digest).</summary>
internal sealed record BuildSourceResult(string Type, string Reference, string? Digest);

/// <summary>
/// <c>rootfsforge.build-result/v1</c> (<c>rootfsforge.build/v1</c> is the manifest NAME.build.json itself):
/// <c>status</c> built, up-to-date or lint-failed.
/// </summary>
internal sealed record BuildResult(string Schema, string Definition, string Name, string Status, string? Manifest,
    string? DefinitionSha256, BuildSourceResult? Source, string? Kernel, IReadOnlyList<BuildOutputResult> Outputs, LintResult? Lint,
    double ElapsedSeconds, IReadOnlyList<string> Warnings, string? Error);

/// <summary>One difference between the definition and the published manifest.</summary>
internal sealed record DriftResult(string Field, string Expected, string Published);

/// <summary>
/// <c>rootfsforge.check/v1</c>: <c>match</c> true when there is no drift and the signature (with --signed-by) holds;
/// <c>problem</c> says why there is nothing to compare (no manifest).
/// </summary>
internal sealed record CheckResult(string Schema, string Definition, string Name, string Against, bool Match,
    string? DefinitionSha256, IReadOnlyList<DriftResult> Drift, string? Signature, string? Problem);

/// <summary><c>rootfsforge.dockerfile/v1</c>: the folder written and every file in it (relative paths, sorted).</summary>
internal sealed record DockerfileResult(string Schema, string Definition, string Name, string Directory, string Dockerfile,
    IReadOnlyList<string> Files);

/// <summary><c>rootfsforge.key-generate/v1</c>: the public key and where both halves were written; never the private key.</summary>
internal sealed record KeyResult(string Schema, string PublicKey, string PrivateKeyFile, string PublicKeyFile);
