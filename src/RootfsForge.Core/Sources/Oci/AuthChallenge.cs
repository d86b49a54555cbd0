using System.Net.Http.Headers;
using System.Text;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// One <c>WWW-Authenticate</c> challenge (RFC 7235 §4.1): a scheme and <c>name="value"</c> parameters. Registries send
/// <c>Basic realm="…"</c> or, for the token flow, <c>Bearer realm="…",service="…",scope="…"</c>.
/// </summary>
internal sealed class AuthChallenge
{
    private AuthChallenge(string scheme, IReadOnlyDictionary<string, string> parameters)
    {
        Scheme = scheme;
        Parameters = parameters;
    }

    public string Scheme { get; }

    public IReadOnlyDictionary<string, string> Parameters { get; }

    public string? this[string name] => Parameters.TryGetValue(name, out var v) ? v : null;

    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);

    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    public static IReadOnlyList<AuthChallenge> From(HttpResponseHeaders headers) =>
        headers.WwwAuthenticate.Select(h => new AuthChallenge(h.Scheme, ParseParameters(h.Parameter ?? ""))).ToArray();

    /// <summary>Parses <c>name=value</c> pairs separated by commas; values are tokens or quoted strings with <c>\</c> escapes.</summary>
    internal static IReadOnlyDictionary<string, string> ParseParameters(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i]))) i++;
            int nameStart = i;
            while (i < text.Length && text[i] != '=' && text[i] != ',') i++;
            string name = text[nameStart..i].Trim();
            if (i >= text.Length || text[i] != '=')
            {
                continue;
            }
            i++;
            while (i < text.Length && text[i] == ' ') i++;
            var value = new StringBuilder();
            if (i < text.Length && text[i] == '"')
            {
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length) i++;
                    value.Append(text[i++]);
                }
                i++;
            }
            else
            {
                while (i < text.Length && text[i] != ',') value.Append(text[i++]);
            }
            if (name.Length > 0) result[name] = value.ToString().Trim();
        }
        return result;
    }
}
