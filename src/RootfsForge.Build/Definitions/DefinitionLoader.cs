using RootfsForge.Steps;
using YamlDotNet.RepresentationModel;

namespace RootfsForge.Definitions;

/// <summary>
/// Reads a definition (<c>images/NAME.yaml</c>) and the recipes it includes (<c>images/recipes/NAME.yaml</c>) into one
/// resolved <see cref="ImageDefinition"/> (README.md, "Definitions"–§3). Recipes are applied depth first in include order,
/// each one's own includes before its body, and the definition's body last: lists (packages, files, run, users, services,
/// cleanup) are concatenated in that order, <c>env</c> is merged (later wins), single values (kernel, entrypoint,
/// workdir) are replaced by later ones. Every mistake is a <see cref="DefinitionFormatException"/> naming
/// <c>file:line:column</c>: bad YAML, an unknown key, a wrong type, a missing key, file or recipe, a missing or unknown
/// parameter, an include cycle.
/// </summary>
public static class DefinitionLoader
{
    /// <summary>The folder, next to the definitions, that recipes are looked up in.</summary>
    public const string RecipesFolder = "recipes";

    /// <summary>How deep includes may nest (a cycle is reported before this is reached).</summary>
    private const int MaxIncludeDepth = 32;

    private static readonly string[] BodyKeys = ["include", "packages", "files", "run", "services", "users", "ssh", "kernel", "entrypoint", "env", "workdir", "cleanup"];
    private static readonly string[] DefinitionKeys = ["name", "kind", "from", "outputs", "metadata", "reproducible", .. BodyKeys];
    private static readonly string[] RecipeKeys = ["description", "params", .. BodyKeys];

    /// <summary>Loads and resolves the definition at <paramref name="path"/>.</summary>
    /// <exception cref="DefinitionFormatException">The definition or a recipe is not valid.</exception>
    /// <exception cref="FileNotFoundException">The definition does not exist.</exception>
    public static ImageDefinition Load(string path)
    {
        var file = Path.GetFullPath(path);
        var map = YamlScope.LoadMapping(file, "a definition: a mapping with name, kind, from, outputs, …");
        var scope = new YamlScope(file, null);
        var top = scope.Keys(map, "a definition", DefinitionKeys).ToDictionary(k => k.Key, k => (k.KeyNode, k.Value), StringComparer.Ordinal);

        string name = top.TryGetValue("name", out var n) ? scope.String(n.Value, "name") : throw scope.Error(map, "missing 'name'");
        if (!IsPlainName(name)) throw scope.Error(n.Value, $"'name' must be letters, digits, '.', '_' and '-' (it names the output files), not '{name}'");
        var kind = top.TryGetValue("kind", out var k) ? scope.String(k.Value, "kind") switch
        {
            "vm" => ImageKind.Vm,
            "container" => ImageKind.Container,
            var other => throw scope.Error(k.Value, $"'kind' must be vm or container, not '{other}'"),
        } : throw scope.Error(map, "missing 'kind' (vm or container)");
        var from = top.TryGetValue("from", out var f) ? SourceParser.Parse(scope, f.Value) : throw scope.Error(map, "missing 'from'");

        var body = new Accumulator(kind, Path.GetDirectoryName(file)!);
        Apply(scope, map, body, [file], 0);

        var outputs = top.TryGetValue("outputs", out var o) ? OutputParser.Parse(scope, o.Value) : throw scope.Error(map, "missing 'outputs'");
        if (outputs.Count == 0) throw scope.Error(o.Value, "'outputs' must name at least one output");
        var metadata = top.TryGetValue("metadata", out var m) ? ParseMetadata(scope, m.Value) : new DefinitionMetadata();
        long? epoch = top.TryGetValue("reproducible", out var r) ? ParseReproducible(scope, r.Value) : null;

        return new ImageDefinition
        {
            Name = name,
            Kind = kind,
            From = from,
            Install = body.Install.Distinct(StringComparer.Ordinal).ToList(),
            Remove = body.Remove.Distinct(StringComparer.Ordinal).ToList(),
            Files = body.Files,
            Run = body.Run,
            Users = body.Users,
            SshKeys = body.SshKeys.Distinct(StringComparer.Ordinal).ToList(),
            Services = body.Services,
            Kernel = body.Kernel,
            Entrypoint = body.Entrypoint,
            Env = body.Env,
            WorkingDirectory = body.WorkingDirectory,
            Cleanup = body.Cleanup,
            Outputs = outputs,
            Metadata = metadata,
            SourceDateEpoch = epoch,
            File = file,
            Recipes = body.Recipes,
        };
    }

    /// <summary>Applies a file's includes (recursively), then its own body sections, to <paramref name="body"/>.</summary>
    private static void Apply(YamlScope scope, YamlMappingNode map, Accumulator body, List<string> stack, int depth)
    {
        bool definition = stack.Count == 1;
        var entries = scope.Keys(map, definition ? "a definition" : "a recipe", definition ? DefinitionKeys : RecipeKeys).ToList();
        foreach (var (key, _, value) in entries)
            if (key == "include") ApplyIncludes(scope, value, body, stack, depth);
        foreach (var (key, _, value) in entries)
            if (key != "include" && BodyKeys.Contains(key)) BodyParser.Apply(scope, key, value, body);
    }

    private static void ApplyIncludes(YamlScope scope, YamlNode node, Accumulator body, List<string> stack, int depth)
    {
        foreach (var item in scope.List(node, "include").Children)
        {
            string recipeName;
            YamlNode? with = null;
            YamlNode nameNode = item;
            if (item is YamlMappingNode entry)
            {
                YamlNode? r = null;
                foreach (var (key, _, value) in scope.Keys(entry, "an include", ["recipe", "with"]))
                {
                    if (key == "recipe") r = value;
                    else with = value;
                }
                nameNode = r ?? throw scope.Error(entry, "an include needs 'recipe: NAME'");
            }
            recipeName = scope.String(nameNode, "recipe");
            if (!IsPlainName(recipeName)) throw scope.Error(nameNode, $"a recipe name is a file name in {RecipesFolder}/ without .yaml, not '{recipeName}'");
            var recipeFile = Path.Combine(body.ImagesDirectory, RecipesFolder, recipeName + ".yaml");
            if (!File.Exists(recipeFile)) throw scope.Error(nameNode, $"recipe '{recipeName}' not found (no {recipeFile})");
            if (stack.Contains(recipeFile, StringComparer.Ordinal))
                throw scope.Error(nameNode, $"include cycle: {string.Join(" -> ", stack.Select(Path.GetFileName))} -> {Path.GetFileName(recipeFile)}");
            if (depth >= MaxIncludeDepth) throw scope.Error(nameNode, $"includes nest deeper than {MaxIncludeDepth}");

            var recipe = YamlScope.LoadMapping(recipeFile, "a recipe: a mapping with params, packages, files, …");
            var parameters = BindParameters(scope, new YamlScope(recipeFile, null), recipe, with, item, recipeName);
            body.Recipes.Add(recipeFile);
            stack.Add(recipeFile);
            Apply(new YamlScope(recipeFile, parameters), recipe, body, stack, depth + 1);
            stack.RemoveAt(stack.Count - 1);
        }
    }

    /// <summary>
    /// The recipe's parameters: its <c>params</c> defaults, overridden by the include's <c>with</c> values (evaluated in
    /// the including file's scope). A parameter whose default is null must be given; an unknown one is an error.
    /// </summary>
    private static Dictionary<string, string> BindParameters(YamlScope includer, YamlScope recipeScope, YamlMappingNode recipe,
        YamlNode? with, YamlNode includeNode, string recipeName)
    {
        var defaults = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in recipe.Children)
        {
            if (keyNode is not YamlScalarNode { Value: "params" }) continue;
            foreach (var (pKey, pValue) in recipeScope.Map(value, "params").Children)
            {
                var name = recipeScope.String(pKey, "params key");
                defaults[name] = YamlScope.IsPlainNull(pValue) ? null : recipeScope.Text(pValue, $"params.{name}");
            }
        }
        var bound = new Dictionary<string, string>(StringComparer.Ordinal);
        if (with is not null)
        {
            foreach (var (keyNode, value) in includer.Map(with, "with").Children)
            {
                var name = includer.String(keyNode, "with key");
                if (!defaults.ContainsKey(name))
                    throw includer.Error(keyNode, $"recipe '{recipeName}' has no parameter '{name}' (it has: {(defaults.Count == 0 ? "none" : string.Join(", ", defaults.Keys))})");
                bound[name] = includer.Text(value, $"with.{name}");
            }
        }
        foreach (var (name, value) in defaults)
        {
            if (bound.ContainsKey(name)) continue;
            bound[name] = value ?? throw includer.Error(includeNode, $"recipe '{recipeName}' needs parameter '{name}' (give it under 'with:')");
        }
        return bound;
    }

    private static DefinitionMetadata ParseMetadata(YamlScope scope, YamlNode node)
    {
        string? description = null, version = null, maintainer = null;
        foreach (var (key, _, value) in scope.Keys(scope.Map(node, "metadata"), "metadata", ["description", "version", "maintainer"]))
        {
            switch (key)
            {
                case "description": description = scope.String(value, "metadata.description"); break;
                case "version": version = scope.String(value, "metadata.version"); break;
                default: maintainer = scope.String(value, "metadata.maintainer"); break;
            }
        }
        return new DefinitionMetadata(description, version, maintainer);
    }

    private static long? ParseReproducible(YamlScope scope, YamlNode node)
    {
        long? epoch = null;
        foreach (var (_, _, value) in scope.Keys(scope.Map(node, "reproducible"), "reproducible", ["source_date_epoch"]))
            epoch = scope.Integer(value, "reproducible.source_date_epoch", 253402300799); // 9999-12-31
        return epoch;
    }

    /// <summary>A name usable as a file name: letters, digits, '.', '_', '-', not starting with '.' or '-'.</summary>
    internal static bool IsPlainName(string name) =>
        name.Length is > 0 and <= 128 && name[0] is not ('.' or '-')
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}

/// <summary>The resolved body of a definition, filled by its recipes and then itself.</summary>
internal sealed class Accumulator(ImageKind kind, string imagesDirectory)
{
    public ImageKind Kind { get; } = kind;

    /// <summary>The definition's folder: recipes are in its <c>recipes/</c>, and written paths are recorded relative to it.</summary>
    public string ImagesDirectory { get; } = imagesDirectory;

    public List<string> Install { get; } = [];
    public List<string> Remove { get; } = [];
    public List<FileSpec> Files { get; } = [];
    public List<RunStep> Run { get; } = [];
    public List<UserSpec> Users { get; } = [];
    public List<string> SshKeys { get; } = [];
    public List<ServiceSpec> Services { get; } = [];
    public List<string> Cleanup { get; } = [];
    public List<string> Recipes { get; } = [];
    public SortedDictionary<string, string> Env { get; } = new(StringComparer.Ordinal);
    public KernelSpec Kernel { get; set; } = KernelSpec.Image;
    public IReadOnlyList<string>? Entrypoint { get; set; }
    public string? WorkingDirectory { get; set; }

    /// <summary>A host path as recorded in the hash: relative to the images folder, with '/' separators.</summary>
    public string Written(string fullPath) => Path.GetRelativePath(ImagesDirectory, fullPath).Replace('\\', '/');
}
