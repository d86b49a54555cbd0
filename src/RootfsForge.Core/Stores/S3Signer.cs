using System.Security.Cryptography;
using System.Text;

namespace RootfsForge.Stores;

/// <summary>
/// AWS Signature Version 4 for S3 requests without a query string (path-style object URLs): signs <c>host</c>,
/// <c>x-amz-content-sha256</c> and <c>x-amz-date</c>.
/// </summary>
internal sealed class S3Signer(string accessKey, string secretKey, string region)
{
    private const string Algorithm = "AWS4-HMAC-SHA256";
    private const string Service = "s3";
    internal const string SignedHeaders = "host;x-amz-content-sha256;x-amz-date";

    /// <summary>Hex SHA-256 of an empty body.</summary>
    public static readonly string EmptyPayloadHash = Convert.ToHexStringLower(SHA256.HashData([]));

    /// <summary>Adds the signature headers to <paramref name="request"/>.</summary>
    public void Sign(HttpRequestMessage request, string payloadHash, DateTimeOffset now)
    {
        var uri = request.RequestUri!;
        string amzDate = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        string date = amzDate[..8];
        string host = uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}";
        string canonical = CanonicalRequest(request.Method.Method, uri.AbsolutePath, host, payloadHash, amzDate);
        string signature = Signature(canonical, amzDate);
        string scope = $"{date}/{region}/{Service}/aws4_request";
        request.Headers.Host = host;
        request.Headers.TryAddWithoutValidation("x-amz-date", amzDate);
        request.Headers.TryAddWithoutValidation("x-amz-content-sha256", payloadHash);
        request.Headers.TryAddWithoutValidation("Authorization",
            $"{Algorithm} Credential={accessKey}/{scope}, SignedHeaders={SignedHeaders}, Signature={signature}");
    }

    /// <summary>The hex signature of a canonical request made at <paramref name="amzDate"/> (yyyyMMddTHHmmssZ).</summary>
    internal string Signature(string canonicalRequest, string amzDate)
    {
        string date = amzDate[..8];
        string scope = $"{date}/{region}/{Service}/aws4_request";
        string toSign = $"{Algorithm}\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)))}";
        byte[] k = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secretKey), Encoding.UTF8.GetBytes(date));
        k = HMACSHA256.HashData(k, Encoding.UTF8.GetBytes(region));
        k = HMACSHA256.HashData(k, Encoding.UTF8.GetBytes(Service));
        k = HMACSHA256.HashData(k, "aws4_request"u8);
        return Hex(HMACSHA256.HashData(k, Encoding.UTF8.GetBytes(toSign)));
    }

    /// <summary>The canonical request (path already percent-encoded per segment, empty query).</summary>
    internal static string CanonicalRequest(string method, string path, string host, string payloadHash, string amzDate) =>
        $"{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:{payloadHash}\nx-amz-date:{amzDate}\n\n{SignedHeaders}\n{payloadHash}";

    private static string Hex(byte[] b) => Convert.ToHexStringLower(b);
}
