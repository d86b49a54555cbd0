using System.Net;
using System.Text;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sources.Oci;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// Basic auth (docker-registry with an htpasswd file) and the bearer-token flow (docker-registry's <c>auth: token</c>
/// trusting <see cref="TokenIssuer"/>), with credentials from files; secrets never reach exception messages.
/// </summary>
[Collection(OciImagesCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class RegistryAuthTests(OciImagesFixture images)
{
    private const string User = "tester";
    private const string Password = "Pa55-w0rd-SECRET";

    private static string CredsFile(string registry, string user, string password)
    {
        string path = Path.Combine(TestEnvironment.NewTempDir("rff-creds"), "auth.json");
        string auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
        File.WriteAllText(path, $"{{\"auths\":{{\"{registry}\":{{\"auth\":\"{auth}\"}}}}}}");
        return path;
    }

    private OciImageOptions Options(string host, string? credsFile, TokenIssuer? issuer = null) =>
        OciImagesFixture.Options(images.NewCache(), issuer is null ? [host] : [host, issuer.Host]) with { CredentialsFile = credsFile };

    private static ImageReference Ref(string host, string repoTag = "test/app:gzip") => ImageReference.Parse($"docker://{host}/{repoTag}");

    private static void AssertNoSecret(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            Assert.DoesNotContain(Password, x.Message);
            Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}")), x.Message);
            Assert.DoesNotContain("WRONG-password", x.Message);
        }
        Assert.DoesNotContain(Password, e.ToString());
    }

    [SkippableFact]
    public async Task Htpasswd_BasicAuth_WithCredentialsFile()
    {
        images.Require();
        using var registry = RegistryServer.StartHtpasswd(images.Storage, User, Password);
        using var proxy = new FaultProxy(registry.Origin);
        await using var image = await OciImage.OpenAsync(Ref(proxy.Host), Options(proxy.Host, CredsFile(proxy.Host, User, Password)));
        await image.DownloadAsync();
        await using (var tar = await image.OpenLayerAsync(image.Layers[1]))
            Assert.True(OciImagesFixture.ReadTar(tar).ContainsKey("etc/app.conf"));
        // Credentials are sent only after the registry asked for them, then on every request.
        var log = proxy.Log;
        Assert.Null(log[0].Authorization);
        Assert.Equal(401, log[0].Status);
        Assert.All(log.Skip(1), e => Assert.StartsWith("Basic ", e.Authorization));
    }

    [SkippableFact]
    public async Task Htpasswd_WrongPassword_401_NoSecretInMessage()
    {
        images.Require();
        using var registry = RegistryServer.StartHtpasswd(images.Storage, User, Password);
        var e = await Assert.ThrowsAsync<RegistryException>(() =>
            OciImage.OpenAsync(Ref(registry.Host), Options(registry.Host, CredsFile(registry.Host, User, "WRONG-password"))));
        Assert.Equal(HttpStatusCode.Unauthorized, e.StatusCode);
        Assert.Contains($"refused the credentials of '{User}' from ", e.Message);
        AssertNoSecret(e);
    }

    [SkippableFact]
    public async Task Htpasswd_NoCredentials_SaysSo()
    {
        images.Require();
        using var registry = RegistryServer.StartHtpasswd(images.Storage, User, Password);
        var e = await Assert.ThrowsAsync<RegistryException>(() =>
            OciImage.OpenAsync(Ref(registry.Host), Options(registry.Host, CredsFile("other.example", User, Password))));
        Assert.Equal(HttpStatusCode.Unauthorized, e.StatusCode);
        Assert.Contains("no credentials", e.Message);
    }

    [SkippableTheory]
    [InlineData(false)] // x5c: the signing certificate in the JWT header, verified against rootcertbundle
    [InlineData(true)]  // kid: the libtrust key ID of a rootcertbundle certificate's key
    public async Task Token_Flow_BothJwtKeyForms(bool useKeyId)
    {
        images.Require();
        using var issuer = new TokenIssuer(User, Password, useKeyId);
        using var registry = RegistryServer.StartToken(images.Storage, issuer);
        using var proxy = new FaultProxy(registry.Origin);
        await using var image = await OciImage.OpenAsync(Ref(proxy.Host), Options(proxy.Host, CredsFile(proxy.Host, User, Password), issuer));
        await image.DownloadAsync();
        await using (var tar = await image.OpenLayerAsync(image.Layers[1]))
            Assert.True(OciImagesFixture.ReadTar(tar).ContainsKey("etc/app.conf"));
        Assert.Equal(1, issuer.Issued);
        Assert.Contains("repository:test/app:pull", issuer.Scopes);
        Assert.Equal(1, image.TokensFetched);
        Assert.All(proxy.Log.Skip(1), e => Assert.StartsWith("Bearer ", e.Authorization));
    }

    [SkippableFact]
    public async Task Token_WrongPassword_And_AnonymousDenied()
    {
        images.Require();
        using var issuer = new TokenIssuer(User, Password);
        using var registry = RegistryServer.StartToken(images.Storage, issuer);
        var wrong = await Assert.ThrowsAsync<RegistryException>(() =>
            OciImage.OpenAsync(Ref(registry.Host), Options(registry.Host, CredsFile(registry.Host, User, "WRONG-password"), issuer)));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Contains("token service", wrong.Message);
        AssertNoSecret(wrong);

        // Without credentials the issuer grants no access: the registry still answers 401 to the token.
        var anonymous = await Assert.ThrowsAsync<RegistryException>(() =>
            OciImage.OpenAsync(Ref(registry.Host), Options(registry.Host, CredsFile("other.example", User, Password), issuer)));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

        // A plain-HTTP token service that is not listed as insecure gets no password, and the error says why.
        var notListed = await Assert.ThrowsAsync<RegistryException>(() =>
            OciImage.OpenAsync(Ref(registry.Host), Options(registry.Host, CredsFile(registry.Host, User, Password))));
        Assert.Contains("token service", notListed.Message);
        Assert.Contains("insecure", notListed.Message);
        AssertNoSecret(notListed);
    }

    [SkippableFact]
    public async Task Token_AnonymousPull_WhenTheIssuerAllowsIt()
    {
        images.Require();
        using var issuer = new TokenIssuer(User, Password, anonymousPull: true);
        using var registry = RegistryServer.StartToken(images.Storage, issuer);
        await using var image = await OciImage.OpenAsync(Ref(registry.Host), Options(registry.Host, null));
        await image.DownloadAsync();
        Assert.Equal(1, issuer.Issued);
    }

    [SkippableFact]
    public async Task Token_RenewedWhenExpired()
    {
        images.Require();
        using var issuer = new TokenIssuer(User, Password, expiresIn: 2);
        using var registry = RegistryServer.StartToken(images.Storage, issuer);
        await using var image = await OciImage.OpenAsync(Ref(registry.Host), Options(registry.Host, CredsFile(registry.Host, User, Password), issuer));
        // Usually one token; on a loaded machine the open itself may outlast the 2 s and renew it already.
        int issued = issuer.Issued;
        Assert.InRange(issued, 1, 2);
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        await image.DownloadAsync(); // the token's 2 s are over: a new one is fetched before the first blob request
        Assert.True(issuer.Issued > issued, $"tokens issued: {issued} before the download, {issuer.Issued} after");
    }

    [SkippableFact]
    public async Task Token_NewUnauthorized_FetchesANewToken()
    {
        images.Require();
        using var issuer = new TokenIssuer(User, Password);
        using var registry = RegistryServer.StartToken(images.Storage, issuer);
        using var proxy = new FaultProxy(registry.Origin);
        await using var image = await OciImage.OpenAsync(Ref(proxy.Host), Options(proxy.Host, CredsFile(proxy.Host, User, Password), issuer));
        Assert.Equal(1, issuer.Issued);
        // The registry (say, restarted with a new key) rejects the current token once.
        int rejected = 0;
        proxy.Rule = async (x, p) =>
        {
            if (!x.Path.Contains("/blobs/") || Interlocked.Exchange(ref rejected, 1) == 1) return false;
            p.Record(x, 401);
            await x.RespondAsync(401, Encoding.UTF8.GetBytes("{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}"),
                [KeyValuePair.Create("WWW-Authenticate", $"Bearer realm=\"{issuer.Realm}\",service=\"{TokenIssuer.Service}\",scope=\"repository:test/app:pull\",error=\"invalid_token\"")]);
            return true;
        };
        await image.DownloadAsync();
        Assert.Equal(2, issuer.Issued);
    }

    [SkippableFact]
    public async Task Redirect_ToBlobStorage_WithoutTheRegistrysAuthorization()
    {
        images.Require();
        using var registry = RegistryServer.StartHtpasswd(images.Storage, User, Password);
        using var proxy = new FaultProxy(registry.Origin);
        // "Blob storage" on another port: serves blobs of the same storage through an anonymous registry.
        using var storage = new FaultProxy(images.RegistryOrigin);
        proxy.Rule = async (x, p) =>
        {
            if (!x.Path.Contains("/blobs/sha256:")) return false;
            p.Record(x, 307);
            await x.RespondAsync(307, null, [KeyValuePair.Create("Location", $"http://{storage.Host}{x.Target}")]);
            return true;
        };
        await using var image = await OciImage.OpenAsync(Ref(proxy.Host),
            OciImagesFixture.Options(images.NewCache(), proxy.Host, storage.Host) with { CredentialsFile = CredsFile(proxy.Host, User, Password) });
        await image.DownloadAsync();
        Assert.Equal(3, storage.BlobGets.Count);
        Assert.All(storage.Log, e => Assert.Null(e.Authorization));
        Assert.All(proxy.BlobGets, e => Assert.StartsWith("Basic ", e.Authorization));
    }
}
