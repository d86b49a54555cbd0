using System.Text;
using System.Text.RegularExpressions;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Packaging;

/// <summary>
/// Every ```csharp block of README.md and of each package's README (src/*/README.md, shown on the package's page) must
/// compile as written against the libraries, with warnings as errors, in a project like a user's (no access to
/// internals). A block is a program fragment: its leading <c>using</c> directives go to the top of a file and the rest
/// becomes the body of an async method, so top-level <c>await</c> and <c>using var</c> work as they do in a
/// top-level program. A block that is not meant to compile is fenced as ```text instead.
/// </summary>
public sealed partial class ReadmeSnippetTests
{
    [Fact]
    public void ReadmeCSharpBlocksCompile()
    {
        var readmes = new[] { Path.Combine(TestEnvironment.RepoRoot, "README.md") }
            .Concat(Directory.GetDirectories(Path.Combine(TestEnvironment.RepoRoot, "src")).Select(d => Path.Combine(d, "README.md")).Where(File.Exists)
                .Order(StringComparer.Ordinal));
        var snippets = readmes.SelectMany(file => CSharpBlocks(File.ReadAllText(file))
            .Select((code, i) => (Where: $"{Path.GetRelativePath(TestEnvironment.RepoRoot, file)} block {i + 1}", Code: code))).ToList();
        Assert.NotEmpty(snippets);

        var dir = TestEnvironment.NewTempDir("rff-snippets");
        try
        {
            // The assemblies the tests themselves run against (this project's output holds the three libraries).
            string bin = Path.GetDirectoryName(typeof(CloudImage).Assembly.Location)!;
            var project = new StringBuilder("""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                  </PropertyGroup>
                  <ItemGroup>

                """);
            foreach (var name in new[] { "RootfsForge.Formats", "RootfsForge.Core", "RootfsForge.Build" })
                project.Append($"    <Reference Include=\"{Path.Combine(bin, name + ".dll")}\" />\n");
            project.Append("  </ItemGroup>\n</Project>\n");
            File.WriteAllText(Path.Combine(dir, "Snippets.csproj"), project.ToString());
            // Core and Build are marked Linux-only; a program using them says so too (samples/ImageToTar does likewise).
            File.WriteAllText(Path.Combine(dir, "Linux.cs"), "[assembly: System.Runtime.Versioning.SupportedOSPlatform(\"linux\")]\n");
            for (int i = 0; i < snippets.Count; i++)
                File.WriteAllText(Path.Combine(dir, $"Snippet{i + 1}.cs"), AsMethod(snippets[i].Code, $"Snippet{i + 1}", snippets[i].Where));

            var (code, stdout, stderr) = TestEnvironment.Run("nice",
                ["dotnet", "build", dir, "-nologo", "-v", "q", "--disable-build-servers"], timeout: TimeSpan.FromMinutes(10));
            Assert.True(code == 0, $"README snippets do not compile:\n{stdout}{stderr}\n" +
                string.Join('\n', snippets.Select((s, i) => $"Snippet{i + 1}.cs = {s.Where}")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The contents of the ```csharp fenced blocks of a Markdown text.</summary>
    internal static IEnumerable<string> CSharpBlocks(string markdown) =>
        FencedCSharp().Matches(markdown.ReplaceLineEndings("\n")).Select(m => m.Groups[1].Value);

    /// <summary>The snippet as a file: its using directives, then the rest inside <c>static async Task RunAsync()</c>.</summary>
    internal static string AsMethod(string snippet, string className, string where)
    {
        var lines = snippet.Split('\n');
        int body = 0;
        while (body < lines.Length && (UsingDirective().IsMatch(lines[body]) || string.IsNullOrWhiteSpace(lines[body]))) body++;
        var file = new StringBuilder();
        foreach (var line in lines[..body]) file.Append(line).Append('\n');
        file.Append($"// {where}\ninternal static class {className}\n{{\n    public static async Task RunAsync()\n    {{\n");
        foreach (var line in lines[body..]) file.Append("        ").Append(line).Append('\n');
        // A snippet without an await still has to compile without CS1998 (async method lacks await).
        file.Append("        await Task.CompletedTask;\n    }\n}\n");
        return file.ToString();
    }

    [Fact]
    public void SnippetFramingKeepsUsingDirectivesAndUsingDeclarationsApart()
    {
        var blocks = CSharpBlocks("text\n```csharp\nusing A.B;\nusing C = D.E;\n\nusing var x = Open();\nawait Go();\n```\n```text\nno\n```\n").ToList();
        var file = AsMethod(Assert.Single(blocks), "S", "here");
        Assert.StartsWith("using A.B;\nusing C = D.E;\n\n// here\ninternal static class S", file);
        Assert.Contains("        using var x = Open();\n        await Go();\n", file);
    }

    [GeneratedRegex(@"^```csharp[ \t]*\n(.*?)^```[ \t]*$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex FencedCSharp();

    // `using X.Y;`, `using static X.Y;`, `using A = X.Y;` — not `using var x = ...;` or `using (...)`.
    [GeneratedRegex(@"^\s*(global\s+)?using\s+(static\s+)?([A-Za-z_]\w*\s*=\s*)?[A-Za-z_][\w.]*\s*;\s*(//.*)?$")]
    private static partial Regex UsingDirective();
}
