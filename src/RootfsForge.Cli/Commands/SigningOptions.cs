using System.CommandLine;
using RootfsForge.Definitions;

namespace RootfsForge.Cli.Commands;

/// <summary><c>--signed-by</c> and the report of a manifest's signature, shared by <c>fl verify</c> and <c>check</c>.</summary>
internal static class SigningOptions
{
    public static Option<string?> SignedBy() => new("--signed-by")
    {
        Description = "Require the build manifest in the flist's tags to be signed by this Ed25519 public key (a file holding " +
                      "its base64, as 'key generate' writes KEY.pub, or the base64 itself).",
        HelpName = "PUBKEY",
    };

    /// <summary>The trusted public key (base64), or null without the option; a malformed key is a usage error (exit 2).</summary>
    public static string? ReadPublicKey(ParseResult parse, Option<string?> option)
    {
        if (parse.GetValue(option) is not { } value) return null;
        string key = ManifestSignature.ReadPublicKey(value);
        byte[] raw;
        try
        {
            raw = Convert.FromBase64String(key);
        }
        catch (FormatException)
        {
            raw = [];
        }
        // A file name that does not exist lands here too: say both.
        if (raw.Length != 32)
            throw new UsageException($"--signed-by: '{(File.Exists(value) ? value : Shorten(value))}' is neither a file holding a base64 Ed25519 public key nor one");
        return key;
    }

    /// <summary>Prints the signature's standing to stderr (a valid one unless -q, a failing one always); true when it is valid.</summary>
    public static bool Report(FlistManifestReading reading, Reporter r)
    {
        if (reading.Signature == ManifestSignatureStatus.Valid)
        {
            r.Info($"rootfsforge: ok: manifest of '{reading.Manifest?.Name}' signed by {reading.Signer}");
            return true;
        }
        Console.Error.WriteLine($"rootfsforge: signature: {reading.Problem}");
        return false;
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..57] + "...";
}
