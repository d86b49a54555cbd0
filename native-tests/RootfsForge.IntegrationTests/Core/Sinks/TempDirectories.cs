using RootfsForge.NativeTests.Support;

namespace RootfsForge.NativeTests.Sinks;

/// <summary>Base for test classes: temporary directories made through it are removed after each test (rm -rf copes with
/// the non-UTF-8 names and read-only directories the tests create).</summary>
public abstract class TempDirectories : IDisposable
{
    private readonly List<string> _dirs = [];

    protected string Temp(string prefix = "rff-test") => Track(TestEnvironment.NewTempDir(prefix));

    protected string Track(string dir)
    {
        _dirs.Add(dir);
        return dir;
    }

    public void Dispose()
    {
        foreach (var d in _dirs) TestEnvironment.Run("rm", ["-rf", "--one-file-system", d]);
        GC.SuppressFinalize(this);
    }
}
