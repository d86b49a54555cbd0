using System.Text.Json;
using RootfsForge.Sources.Oci;

namespace RootfsForge.Cli.Commands;

/// <summary>
/// <c>inspect docker://…|oci:…|docker-archive:…</c>: the index (platforms offered, the one picked), the manifest (digest,
/// media type), the layers (digest, media type, size), the config (entrypoint, cmd, env, workdir, user, exposed ports,
/// labels) and the total size of the layers as stored (compressed).
/// </summary>
internal static class ContainerInspect
{
    public static void WriteText(OciImage image)
    {
        var o = Console.Out;
        var c = image.Config;
        o.WriteLine($"image:        {image.Reference}");
        if (image.IndexDigest is not null)
        {
            o.WriteLine($"index:        {image.IndexDigest} ({image.IndexMediaType})");
            o.WriteLine($"platforms:    {string.Join(", ", image.Platforms.Select(p => p == image.Platform ? $"{p} (picked)" : p.ToString()))}");
        }
        else o.WriteLine($"platform:     {image.Platform}");
        o.WriteLine($"manifest:     {image.ManifestDigest ?? "- (docker archive)"}{(image.ManifestMediaType is { } m ? $" ({m})" : "")}");
        o.WriteLine($"config:       {image.ConfigDigest}");
        o.WriteLine($"entrypoint:   {Words(c.Entrypoint)}");
        o.WriteLine($"cmd:          {Words(c.Cmd)}");
        o.WriteLine($"workdir:      {(string.IsNullOrEmpty(c.WorkingDir) ? "-" : c.WorkingDir)}");
        o.WriteLine($"user:         {(string.IsNullOrEmpty(c.User) ? "-" : c.User)}");
        o.WriteLine($"exposed:      {(c.ExposedPorts.Count == 0 ? "-" : string.Join(' ', c.ExposedPorts))}");
        o.WriteLine($"env:          {(c.Env.Count == 0 ? "-" : "")}");
        foreach (var e in c.Env) o.WriteLine($"  {e}");
        if (c.Labels.Count > 0) o.WriteLine("labels:");
        foreach (var (k, v) in c.Labels.OrderBy(l => l.Key, StringComparer.Ordinal)) o.WriteLine($"  {k}={v}");
        o.WriteLine($"layers:       {image.Layers.Count}, {Format.Bytes(TotalSize(image))} ({TotalSize(image)} bytes) as stored");
        for (int i = 0; i < image.Layers.Count; i++)
        {
            var l = image.Layers[i];
            o.WriteLine($"  {i,2}  {l.Digest}  {l.Size,12}  {l.MediaType}");
        }
    }

    /// <summary>One JSON document on stdout, written with <see cref="Utf8JsonWriter"/> as the disk image inspect does (no reflection).</summary>
    public static void WriteJson(OciImage image)
    {
        using var stdout = Console.OpenStandardOutput();
        using var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true });
        var c = image.Config;
        w.WriteStartObject();
        w.WriteString("schema", Json.JsonResultWriter.Schema("inspect-oci"));
        w.WriteString("reference", image.Reference.ToString());
        w.WriteString("transport", image.Reference.Transport switch
        {
            ImageTransport.Registry => "docker",
            ImageTransport.OciLayout => "oci",
            _ => "docker-archive",
        });
        if (image.IndexDigest is not null)
        {
            w.WriteStartObject("index");
            w.WriteString("digest", image.IndexDigest);
            w.WriteString("mediaType", image.IndexMediaType);
            WriteArray(w, "platforms", image.Platforms.Select(p => p.ToString()));
            w.WriteEndObject();
        }
        else w.WriteNull("index");
        w.WriteString("platform", image.Platform.ToString());
        w.WriteStartObject("manifest");
        if (image.ManifestDigest is null) w.WriteNull("digest"); else w.WriteString("digest", image.ManifestDigest);
        if (image.ManifestMediaType is null) w.WriteNull("mediaType"); else w.WriteString("mediaType", image.ManifestMediaType);
        w.WriteEndObject();
        w.WriteStartObject("config");
        w.WriteString("digest", image.ConfigDigest);
        WriteArray(w, "entrypoint", c.Entrypoint);
        WriteArray(w, "cmd", c.Cmd);
        WriteArray(w, "env", c.Env);
        w.WriteString("workingDir", c.WorkingDir ?? "");
        w.WriteString("user", c.User ?? "");
        WriteArray(w, "exposedPorts", c.ExposedPorts);
        w.WriteStartObject("labels");
        foreach (var (k, v) in c.Labels.OrderBy(l => l.Key, StringComparer.Ordinal)) w.WriteString(k, v);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteStartArray("layers");
        foreach (var l in image.Layers)
        {
            w.WriteStartObject();
            w.WriteString("digest", l.Digest);
            w.WriteString("mediaType", l.MediaType);
            w.WriteNumber("size", l.Size);
            w.WriteString("diffId", l.DiffId);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("totalSize", TotalSize(image));
        w.WriteEndObject();
        w.Flush();
        stdout.WriteByte((byte)'\n');
    }

    /// <summary>The layers' sizes as stored (compressed), each distinct blob once: what a pull downloads at most.</summary>
    private static long TotalSize(OciImage image) => image.Layers.DistinctBy(l => l.Digest).Sum(l => l.Size);

    private static string Words(IReadOnlyList<string> words) =>
        words.Count == 0 ? "-" : "[" + string.Join(", ", words.Select(v => JsonSerializer.Serialize(v, InspectJson.Default.String))) + "]";

    private static void WriteArray(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }
}

/// <summary>Source-generated JSON for the strings inspect quotes (the command is Native AOT).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class InspectJson : System.Text.Json.Serialization.JsonSerializerContext;
