using System.Text.Json;

namespace RootfsForge.Sources.Oci;

/// <summary>Typed reads of image JSON with errors that name the document and the field.</summary>
internal static class JsonRead
{
    /// <summary>Parses a JSON document; malformed JSON is an <see cref="ImageFormatException"/> naming <paramref name="structure"/>.</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> json, string structure)
    {
        try
        {
            var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                throw new ImageFormatException("is not a JSON object", structure);
            }
            return doc;
        }
        catch (JsonException e)
        {
            throw new ImageFormatException($"malformed JSON: {e.Message}", structure, null, e);
        }
    }

    public static string? String(JsonElement obj, string name, string structure)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw new ImageFormatException($"'{name}' is not a string", structure);
        return v.GetString();
    }

    public static string RequiredString(JsonElement obj, string name, string structure) =>
        String(obj, name, structure) ?? throw new ImageFormatException($"'{name}' is missing", structure);

    public static long? Int64(JsonElement obj, string name, string structure)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long n))
            throw new ImageFormatException($"'{name}' is not an integer", structure);
        return n;
    }

    public static JsonElement? Object(JsonElement obj, string name, string structure)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Object) throw new ImageFormatException($"'{name}' is not an object", structure);
        return v;
    }

    public static IEnumerable<JsonElement> Array(JsonElement obj, string name, string structure)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return [];
        if (v.ValueKind != JsonValueKind.Array) throw new ImageFormatException($"'{name}' is not an array", structure);
        return v.EnumerateArray();
    }

    public static IReadOnlyList<string> StringArray(JsonElement obj, string name, string structure) =>
        Array(obj, name, structure).Select(e => e.ValueKind == JsonValueKind.String
            ? e.GetString()!
            : throw new ImageFormatException($"'{name}' holds a non-string", structure)).ToArray();

    /// <summary>A JSON object of strings (annotations, labels); a non-string value is an error.</summary>
    public static IReadOnlyDictionary<string, string> StringMap(JsonElement obj, string name, string structure)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Object(obj, name, structure) is not JsonElement o) return map;
        foreach (var p in o.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new ImageFormatException($"'{name}.{p.Name}' is not a string", structure);
            map[p.Name] = p.Value.GetString()!;
        }
        return map;
    }
}
