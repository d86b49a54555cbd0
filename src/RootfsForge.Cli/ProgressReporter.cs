using System.Diagnostics;
using RootfsForge.Tree;

namespace RootfsForge.Cli;

/// <summary>
/// A progress line on stderr while a sink runs (only when stderr is a terminal): bytes and entries done, rate, ETA
/// against the filesystem's used bytes; then one summary line.
/// </summary>
internal sealed class ProgressReporter : IDisposable
{
    private readonly TreeSink _sink;
    private readonly long _expectedBytes;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Timer? _timer;
    private readonly object _gate = new();
    private bool _drawn;

    public ProgressReporter(TreeSink sink, long expectedBytes, bool enabled)
    {
        _sink = sink;
        _expectedBytes = expectedBytes;
        if (enabled && !Console.IsErrorRedirected)
            _timer = new Timer(_ => Draw(), null, TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(250));
    }

    public TimeSpan Elapsed => _clock.Elapsed;

    private void Draw()
    {
        lock (_gate)
        {
            double seconds = Math.Max(_clock.Elapsed.TotalSeconds, 0.001);
            var stats = _sink.Statistics;
            long bytes = stats.ContentBytes;
            double rate = bytes / seconds;
            string eta = rate > 0 && _expectedBytes > bytes
                ? TimeSpan.FromSeconds((_expectedBytes - bytes) / rate).ToString(@"m\:ss")
                : "-:--";
            string pct = _expectedBytes > 0 ? $"{Math.Min(100, 100.0 * bytes / _expectedBytes),3:0}% " : "";
            Console.Error.Write($"\r{pct}{Format.Bytes(bytes),10}  {stats.Entries,9:N0} entries  {Format.Bytes((long)rate),9}/s  ETA {eta}   ");
            _drawn = true;
        }
    }

    public void Dispose()
    {
        _timer?.Dispose();
        lock (_gate)
        {
            if (_drawn) Console.Error.Write("\r" + new string(' ', 79) + "\r");
        }
    }
}

/// <summary>Human-readable numbers for summaries.</summary>
internal static class Format
{
    public static string Bytes(long n)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = n;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }
        return u == 0 ? $"{n} B" : $"{v:0.0} {units[u]}";
    }
}
