using System.Globalization;
using System.Text.RegularExpressions;
using RootfsForge.Steps;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RootfsForge.Definitions;

/// <summary>
/// Typed reading of one YAML file's nodes (a definition or a recipe), every error a <see cref="DefinitionFormatException"/>
/// at the offending node's <c>file:line:column</c>. In a recipe, string values have their <c>{{ param }}</c> placeholders
/// replaced by the include's parameters (<see cref="Parameters"/>); an unknown placeholder is an error at its scalar.
/// </summary>
internal sealed partial class YamlScope
{
    /// <summary>Definitions and recipes are small; a larger file is refused before it is parsed.</summary>
    public const int MaxFileSize = 1 << 20;

    public YamlScope(string file, IReadOnlyDictionary<string, string>? parameters)
    {
        File = file;
        Directory = System.IO.Path.GetDirectoryName(file)!;
        Parameters = parameters;
    }

    /// <summary>The file (absolute path).</summary>
    public string File { get; }

    /// <summary>Its folder: relative paths written in it are resolved against this.</summary>
    public string Directory { get; }

    /// <summary>The recipe's bound parameters; null in a definition (no substitution there).</summary>
    public IReadOnlyDictionary<string, string>? Parameters { get; }

    /// <summary>
    /// Reads and parses <paramref name="file"/>; its one document must be a mapping. Bad YAML, duplicate keys and an
    /// oversized file are errors at their location.
    /// </summary>
    public static YamlMappingNode LoadMapping(string file, string what)
    {
        var info = new FileInfo(file);
        if (!info.Exists) throw new FileNotFoundException($"{file}: no such file", file);
        if (info.Length > MaxFileSize) throw new DefinitionFormatException(file, 1, 1, $"larger than {MaxFileSize} bytes");
        return LoadMapping(System.IO.File.ReadAllText(file), file, what);
    }

    /// <summary>Parses <paramref name="text"/> (named <paramref name="file"/> in errors) as one YAML mapping.</summary>
    public static YamlMappingNode LoadMapping(string text, string file, string what)
    {
        var yaml = new YamlStream();
        var parser = new Parser(new StringReader(text));
        try
        {
            yaml.Load(parser);
        }
        catch (YamlException e)
        {
            throw new DefinitionFormatException(file, e.Start.Line, e.Start.Column, YamlReason(e));
        }
        catch (ArgumentException e)
        {
            // YamlDotNet's mapping node adds children to a dictionary: a repeated key surfaces as this.
            var at = parser.Current?.Start ?? Mark.Empty;
            throw new DefinitionFormatException(file, at.Line, at.Column, $"a key is given twice in one mapping ({e.Message})");
        }
        catch (InvalidOperationException e)
        {
            // As in KernelDefinition.Parse: YamlDotNet 18.1's scanner throws this for some malformed input.
            var at = parser.Current?.End ?? Mark.Empty;
            throw new DefinitionFormatException(file, at.Line, at.Column, $"malformed YAML from here on (an unclosed list or mapping?): {e.Message}");
        }
        if (yaml.Documents.Count != 1)
            throw new DefinitionFormatException(file, 1, 1, yaml.Documents.Count == 0 ? $"empty: expected {what}" : "expected one YAML document");
        if (yaml.Documents[0].RootNode is not YamlMappingNode map)
            throw Located(file, yaml.Documents[0].RootNode, $"expected {what}");
        return map;
    }

    /// <summary>An error at <paramref name="node"/>.</summary>
    public DefinitionFormatException Error(YamlNode node, string reason) => Located(File, node, reason);

    /// <summary>
    /// The keys of a mapping with their values, in file order; a key not in <paramref name="known"/> is an error naming
    /// the known ones.
    /// </summary>
    public IEnumerable<(string Key, YamlNode KeyNode, YamlNode Value)> Keys(YamlMappingNode map, string what, IReadOnlyCollection<string> known)
    {
        foreach (var (keyNode, value) in map.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
                throw Error(keyNode, $"{what}: keys must be plain names");
            if (!known.Contains(key))
                throw Error(keyNode, $"unknown key '{key}' in {what} (known: {string.Join(", ", known)})");
            yield return (key, keyNode, value);
        }
    }

    /// <summary>The node as a mapping.</summary>
    public YamlMappingNode Map(YamlNode node, string what) =>
        node as YamlMappingNode ?? throw Error(node, $"'{what}' must be a mapping of keys");

    /// <summary>The node as a list.</summary>
    public YamlSequenceNode List(YamlNode node, string what) =>
        node as YamlSequenceNode ?? throw Error(node, $"'{what}' must be a list");

    /// <summary>A non-empty string scalar, placeholders substituted.</summary>
    public string String(YamlNode node, string what)
    {
        if (node is not YamlScalarNode scalar || IsPlainNull(node)) throw Error(node, $"'{what}' must be a string");
        var value = Substitute(scalar);
        return value.Length > 0 ? value : throw Error(node, $"'{what}' must not be empty");
    }

    /// <summary>A string scalar that may be empty (file content).</summary>
    public string Text(YamlNode node, string what) =>
        node is YamlScalarNode scalar && !IsPlainNull(node) ? Substitute(scalar) : throw Error(node, $"'{what}' must be a string");

    /// <summary>A list of non-empty strings.</summary>
    public IReadOnlyList<string> StringList(YamlNode node, string what) =>
        List(node, what).Children.Select(item => String(item, what + " item")).ToList();

    /// <summary>A YAML 1.2 core-schema boolean: plain <c>true</c>/<c>false</c> (after substitution).</summary>
    public bool Boolean(YamlNode node, string what)
    {
        if (node is YamlScalarNode { Style: ScalarStyle.Plain } scalar)
        {
            switch (Substitute(scalar))
            {
                case "true" or "True" or "TRUE": return true;
                case "false" or "False" or "FALSE": return false;
            }
        }
        throw Error(node, $"'{what}' must be true or false");
    }

    /// <summary>A non-negative integer (decimal), e.g. a uid or an epoch.</summary>
    public long Integer(YamlNode node, string what, long max = long.MaxValue)
    {
        if (node is YamlScalarNode { Style: ScalarStyle.Plain } scalar
            && long.TryParse(Substitute(scalar), NumberStyles.None, CultureInfo.InvariantCulture, out long value) && value <= max)
            return value;
        throw Error(node, $"'{what}' must be a whole number from 0 to {max}");
    }

    /// <summary>Permission bits written in octal, as a string (<c>"0644"</c>) or a plain number (<c>0755</c>).</summary>
    public int Mode(YamlNode node, string what)
    {
        if (node is YamlScalarNode scalar && !IsPlainNull(node))
        {
            var text = Substitute(scalar);
            if (text.Length is > 0 and <= 5 && text.All(c => c is >= '0' and <= '7'))
                return Convert.ToInt32(text, 8);
        }
        throw Error(node, $"'{what}' must be octal permission bits, like \"0644\"");
    }

    /// <summary>A path relative to this file's folder (or absolute), resolved; it must exist.</summary>
    public string ExistingPath(YamlNode node, string what)
    {
        var written = String(node, what);
        var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(Directory, written));
        if (!System.IO.File.Exists(full) && !System.IO.Directory.Exists(full))
            throw Error(node, $"'{what}': {written} does not exist (looked for {full})");
        return full;
    }

    /// <summary>True for <c>~</c>, <c>null</c> or an empty plain scalar.</summary>
    public static bool IsPlainNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain, Value: "" or "~" or "null" or "Null" or "NULL" };

    /// <summary>The scalar's value with <c>{{ name }}</c> replaced (in a recipe); <c>{{{{</c> stays a literal <c>{{</c>.</summary>
    private string Substitute(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? "";
        if (Parameters is null || !value.Contains("{{", StringComparison.Ordinal)) return value;
        return Placeholder().Replace(value, m =>
        {
            if (m.Value == "{{{{") return "{{";
            var name = m.Groups[1].Value;
            return Parameters.TryGetValue(name, out var v)
                ? v
                : throw Error(scalar, $"unknown parameter '{name}' (this recipe's parameters: {(Parameters.Count == 0 ? "none" : string.Join(", ", Parameters.Keys))})");
        });
    }

    [GeneratedRegex(@"\{\{\{\{|\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")]
    private static partial Regex Placeholder();

    private static DefinitionFormatException Located(string file, YamlNode node, string reason) =>
        new(file, node.Start.Line, node.Start.Column, reason);

    /// <summary>YamlException's message without the "(Line: …) - (Line: …): " prefix.</summary>
    private static string YamlReason(YamlException e) =>
        Regex.Replace(e.Message, @"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\): ", "");
}
