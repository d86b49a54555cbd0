using RootfsForge.Steps;

namespace RootfsForge.Vm;

/// <summary>
/// One step of a container build, run in the order given (a Dockerfile's COPY and RUN lines interleave, and a container
/// build repeats them in that order): a copy into the tree, a shell command in the chroot, or an edit of the tree done
/// in-process (its argument is the staging root; it must write through <see cref="StagingRoot"/>). Exactly one is set.
/// </summary>
/// <param name="Copy">A host file or folder copied in, or null.</param>
/// <param name="Command">A command run with <c>sh -c</c> in the chroot, or null.</param>
/// <param name="Edit">An in-process change of the tree, or null.</param>
internal sealed record TreeStep(CopySpec? Copy, string? Command, Action<string>? Edit)
{
    /// <summary>A copy step.</summary>
    public static TreeStep Of(CopySpec copy) => new(copy, null, null);

    /// <summary>A command step.</summary>
    public static TreeStep Of(string command) => new(null, command, null);

    /// <summary>An in-process edit.</summary>
    public static TreeStep Of(Action<string> edit) => new(null, null, edit);

    /// <summary>What the progress line calls it.</summary>
    public string Name => Copy is { } c ? $"copy {c.Source} -> {c.Destination}" : Command is { } cmd ? $"run {cmd}" : "write tree files";
}
