namespace RootfsForge.Tree;

/// <summary>
/// The rules of <see cref="TreeEntry.Path"/>, the one place sources and sinks check them: relative to the tree root,
/// components separated by one <c>/</c>, no leading or trailing <c>/</c>, no empty, <c>.</c> or <c>..</c> component and
/// no NUL; the root is the empty string. Every walk (<see cref="ITreeSource"/>) yields only such paths and every sink
/// refuses anything else, so no sink can be steered outside its output by a name.
/// </summary>
public static class TreePath
{
    /// <summary>The longest path accepted, in UTF-16 code units (Linux's PATH_MAX is 4096 bytes; tar and ext4 allow longer).</summary>
    public const int MaxLength = 1 << 16;

    /// <summary>The longest name (one component) in bytes: Linux's NAME_MAX; no Linux filesystem holds a longer one.</summary>
    public const int MaxNameBytes = 255;

    /// <summary>True when <paramref name="path"/> follows the rules (the empty root included).</summary>
    public static bool IsValid(string? path)
    {
        if (path is null) return false;
        if (path.Length == 0) return true;
        if (path.Length > MaxLength) return false;
        int start = 0;
        while (true)
        {
            int slash = path.IndexOf('/', start);
            int end = slash < 0 ? path.Length : slash;
            if (!IsValidName(path.AsSpan(start, end - start))) return false;
            if (slash < 0) return true;
            start = slash + 1;
        }
    }

    /// <summary>
    /// True when <paramref name="name"/> is one valid path component (not empty, <c>.</c> or <c>..</c>; no <c>/</c> or NUL;
    /// at most <see cref="MaxNameBytes"/> bytes).
    /// </summary>
    public static bool IsValidName(ReadOnlySpan<char> name) =>
        name.Length > 0 && !name.SequenceEqual(".") && !name.SequenceEqual("..") && name.IndexOfAny('/', '\0') < 0
        && (name.Length * 3 <= MaxNameBytes || NameBytes(name) <= MaxNameBytes);

    /// <summary>True when the name bytes <paramref name="name"/> are one valid path component.</summary>
    public static bool IsValidName(ReadOnlySpan<byte> name) =>
        name.Length is > 0 and <= MaxNameBytes && !(name.Length == 1 && name[0] == '.')
        && !(name.Length == 2 && name[0] == '.' && name[1] == '.') && name.IndexOfAny((byte)'/', (byte)0) < 0;

    /// <summary>The byte length of a name (escaped bytes count one each, see <see cref="FileNameEncoding"/>).</summary>
    private static int NameBytes(ReadOnlySpan<char> name)
    {
        string s = name.ToString();
        return FileNameEncoding.HasEscapes(s) ? FileNameEncoding.GetBytes(s).Length : System.Text.Encoding.UTF8.GetByteCount(name);
    }

    /// <summary>Throws <see cref="ImageFormatException"/> unless <paramref name="path"/> is valid.</summary>
    /// <param name="path">The path.</param>
    /// <param name="what">What the path is, for the message ("entry path", "hard link target").</param>
    public static void Validate(string? path, string what = "entry path")
    {
        if (!IsValid(path))
            throw new ImageFormatException($"{what} '{Printable(path ?? "")}' is not a valid tree path (relative, no empty, '.' or '..' components, no NUL, names of at most {MaxNameBytes} bytes)",
                "tree entry", kind: ImageErrorKind.InvalidName);
    }

    /// <summary><paramref name="parent"/>/<paramref name="name"/>, or <paramref name="name"/> for the root.</summary>
    public static string Join(string parent, string name) => parent.Length == 0 ? name : string.Concat(parent, "/", name);

    /// <summary>The parent path ("" for a top-level entry and for the root).</summary>
    public static string GetParent(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash < 0 ? "" : path[..slash];
    }

    /// <summary>The last component ("" for the root).</summary>
    public static string GetName(string path) => path.Length == 0 ? "" : path[(path.LastIndexOf('/') + 1)..];

    /// <summary>The path as users read it: absolute (<c>/etc/passwd</c>, <c>/</c> for the root), control characters escaped.</summary>
    public static string Display(string path) => "/" + Printable(path);

    /// <summary><paramref name="text"/> with NUL and other control characters as <c>\xNN</c>, so messages stay one line.</summary>
    public static string Printable(string text)
    {
        bool clean = true;
        foreach (char c in text)
        {
            if (char.IsControl(c)) { clean = false; break; }
        }
        if (clean) return text;
        var sb = new System.Text.StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            if (char.IsControl(c)) sb.Append("\\x").Append(((int)c).ToString("x2"));
            else sb.Append(c);
        }
        return sb.ToString();
    }
}
