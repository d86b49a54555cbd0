using System.Text.Json;

namespace RootfsForge.Hub;

/// <summary>
/// The parts of a hub JSON answer the client reads (docs/flist-format.md §9): <c>{"status":"success"|"error",
/// "message":…, "payload":{"name"|"username":…}}</c>, or the asynchronous upload's <c>{"status":"success","jobid":…}</c>.
/// Anything that is not such an object leaves the fields null.
/// </summary>
internal readonly record struct HubAnswer(string? Status, string? Message, string? PayloadName, string? PayloadUsername, string? JobId)
{
    public static HubAnswer Parse(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return default;
            JsonElement payload = root.TryGetProperty("payload", out var p) && p.ValueKind == JsonValueKind.Object ? p : default;
            return new HubAnswer(String(root, "status"), String(root, "message"), String(payload, "name"),
                String(payload, "username"), String(root, "jobid"));
        }
        catch (JsonException)
        {
            return default;
        }
    }

    internal static string? String(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()
            : null;
}

/// <summary>
/// One event of a conversion job's progress stream: the data of a server-sent event at <c>/listen/&lt;id&gt;</c>, a JSON
/// object whose <c>status</c> is <c>update</c> (<c>message</c>, <c>progress</c>), <c>info</c> (the result:
/// <c>info.filename</c>, or <c>info.file</c> for a docker conversion) or <c>error</c> (<c>message</c>).
/// The hub sends no SSE event names; the stream ends after the last event (docs/flist-format.md §9).
/// </summary>
internal readonly record struct HubJobEvent(string? Status, string? Message, int? Progress, string? FileName)
{
    public static HubJobEvent Parse(string data)
    {
        try
        {
            using var doc = JsonDocument.Parse(data);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return default;
            int? progress = root.TryGetProperty("progress", out var pr) && pr.ValueKind == JsonValueKind.Number
                            && pr.TryGetInt32(out int percent) ? percent : null;
            JsonElement info = root.TryGetProperty("info", out var i) && i.ValueKind == JsonValueKind.Object ? i : default;
            return new HubJobEvent(HubAnswer.String(root, "status"), HubAnswer.String(root, "message"), progress,
                HubAnswer.String(info, "filename") ?? HubAnswer.String(info, "file"));
        }
        catch (JsonException)
        {
            return default;
        }
    }
}
