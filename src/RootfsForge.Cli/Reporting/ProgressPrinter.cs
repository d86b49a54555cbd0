using System.Diagnostics;
using System.Globalization;
using RootfsForge.Tree;

namespace RootfsForge.Cli;

/// <summary>
/// The one progress display of every command that copies a tree (fed by <see cref="TreeCopy.RunAsync"/>'s reports).
/// On a terminal: one line redrawn in place, cut to the terminal's width so it never wraps, showing 100 % when the copy
/// completes and then cleared (once). Elsewhere (a CI log, a file): a plain line every <see cref="LineInterval"/>, with
/// no carriage returns or escape sequences. Off with <c>--quiet</c>.
/// </summary>
internal sealed class ProgressPrinter : IProgress<TreeProgress>, IDisposable
{
    /// <summary>Seconds between two plain progress lines, overriding the default (used by tests; docs/cli-json.md §5).</summary>
    public const string IntervalVariable = "ROOTFSFORGE_PROGRESS_INTERVAL";

    private static readonly TimeSpan DefaultLineInterval = TimeSpan.FromSeconds(5);

    private readonly TextWriter _error;
    private readonly ProgressMode _mode;
    private readonly long _expectedBytes;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly object _gate = new();
    private TimeSpan _lastLine;
    private bool _drawn;
    private bool _done;

    public ProgressPrinter(ProgressMode mode, long expectedBytes, TextWriter? error = null)
    {
        _mode = mode;
        _expectedBytes = expectedBytes;
        _error = error ?? Console.Error;
        LineInterval = ReadInterval();
    }

    /// <summary>The time between two plain lines.</summary>
    public TimeSpan LineInterval { get; }

    /// <summary>Time since the printer was made (the copy's duration for the summary).</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>The mode for standard error: a terminal, a pipe or file, or nothing with <paramref name="quiet"/>.</summary>
    public static ProgressMode ModeFor(bool quiet) =>
        quiet ? ProgressMode.Off : Console.IsErrorRedirected ? ProgressMode.Lines : ProgressMode.Terminal;

    public void Report(TreeProgress value)
    {
        lock (_gate)
        {
            if (_done || _mode == ProgressMode.Off) return;
            if (_mode == ProgressMode.Lines)
            {
                // A completed copy is followed by the command's summary: no last progress line.
                if (value.Completed || _clock.Elapsed - _lastLine < LineInterval) return;
                _lastLine = _clock.Elapsed;
                _error.WriteLine("rootfsforge: progress: " + string.Join(", ", Fields(value)));
                return;
            }
            _error.Write("\r" + Fit(Fields(value), TerminalWidth() - 1));
            _drawn = true;
            if (value.Completed) Clear();
        }
    }

    /// <summary>Clears a line left drawn (a copy that failed or was cancelled).</summary>
    public void Dispose()
    {
        lock (_gate) Clear();
    }

    private void Clear()
    {
        if (_drawn && !_done) _error.Write("\r\e[K"); // carriage return, erase to the end of the line
        _done = true;
    }

    /// <summary>Percent (held at 99 until the copy completes: used bytes also count metadata), bytes, entries, rate, time left.</summary>
    private List<string> Fields(TreeProgress p)
    {
        double seconds = Math.Max(_clock.Elapsed.TotalSeconds, 0.001);
        double rate = p.ContentBytes / seconds;
        var fields = new List<string>(5);
        if (_expectedBytes > 0)
        {
            double pct = p.Completed ? 100 : Math.Min(99, 100.0 * p.ContentBytes / _expectedBytes);
            fields.Add(string.Create(CultureInfo.InvariantCulture, $"{pct:0}%"));
        }
        fields.Add(Format.Bytes(p.ContentBytes) + (_expectedBytes > 0 ? " of " + Format.Bytes(_expectedBytes) : ""));
        fields.Add(Format.Count(p.Entries) + " entries");
        fields.Add(Format.Bytes((long)rate) + "/s");
        if (!p.Completed && _expectedBytes > p.ContentBytes && rate > 0)
            fields.Add(Format.Duration(TimeSpan.FromSeconds(Math.Min((_expectedBytes - p.ContentBytes) / rate, 359_999))) + " left");
        return fields;
    }

    /// <summary>As many whole fields as fit in <paramref name="width"/> columns (the line must never wrap).</summary>
    internal static string Fit(IReadOnlyList<string> fields, int width)
    {
        string line = "";
        foreach (var f in fields)
        {
            string next = line.Length == 0 ? f : line + "  " + f;
            if (next.Length > width) break;
            line = next;
        }
        return line.Length == 0 && fields.Count > 0 ? fields[0][..Math.Min(fields[0].Length, Math.Max(width, 0))] : line;
    }

    /// <summary>The terminal's columns (TIOCGWINSZ through Console), else $COLUMNS, else 80.</summary>
    private static int TerminalWidth()
    {
        try
        {
            if (Console.WindowWidth > 0) return Console.WindowWidth;
        }
        catch (IOException)
        {
        }
        return int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), CultureInfo.InvariantCulture, out int c) && c > 0 ? c : 80;
    }

    private static TimeSpan ReadInterval() =>
        double.TryParse(Environment.GetEnvironmentVariable(IntervalVariable), NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0
            ? TimeSpan.FromSeconds(s)
            : DefaultLineInterval;
}

/// <summary>Where progress goes.</summary>
internal enum ProgressMode
{
    /// <summary>No progress (<c>--quiet</c>).</summary>
    Off,
    /// <summary>Standard error is a terminal: one line redrawn in place.</summary>
    Terminal,
    /// <summary>Standard error is a pipe or file (CI logs): a plain line every few seconds.</summary>
    Lines,
}
