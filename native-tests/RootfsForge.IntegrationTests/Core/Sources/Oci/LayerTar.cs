using System.Text.Json;

namespace RootfsForge.NativeTests.Oci;

/// <summary>Layer tars written member by member by Python's <c>tarfile</c> (PAX), an implementation independent of RootfsForge's.</summary>
internal static class LayerTar
{
    /// <summary>One member: <paramref name="Kind"/> dir, file, sym, link, chr or fifo; a mode in octal; xattr values in hex.</summary>
    internal sealed record Member(string Kind, string Name, string? Data = null, string? Target = null, string? Mode = null,
        int Uid = 0, int Gid = 0, string? Mtime = null, string? Device = null, Dictionary<string, string>? Xattrs = null);

    private const string Script = """
import io, json, sys, tarfile
members = json.load(sys.stdin)
out = sys.stdout.buffer
with tarfile.open(fileobj=out, mode='w|', format=tarfile.PAX_FORMAT) as t:
    for m in members:
        ti = tarfile.TarInfo(m['Name'])
        ti.type = {'dir': tarfile.DIRTYPE, 'file': tarfile.REGTYPE, 'sym': tarfile.SYMTYPE, 'link': tarfile.LNKTYPE,
                   'chr': tarfile.CHRTYPE, 'fifo': tarfile.FIFOTYPE}[m['Kind']]
        ti.mode = int(m['Mode'] or ('755' if m['Kind'] == 'dir' else '644'), 8)
        ti.uid, ti.gid = m['Uid'], m['Gid']
        ti.mtime = 1700000000
        pax = {}
        if m['Mtime']:
            pax['mtime'] = m['Mtime']
        for k, v in (m['Xattrs'] or {}).items():
            pax['SCHILY.xattr.' + k] = bytes.fromhex(v).decode('ascii')
        ti.pax_headers = pax
        if m['Target'] is not None: ti.linkname = m['Target']
        if m['Device']: ti.devmajor, ti.devminor = map(int, m['Device'].split(':'))
        data = (m['Data'] or '').encode() if m['Kind'] == 'file' else None
        if data is not None: ti.size = len(data)
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
""";

    /// <summary>A writer of the tar of <paramref name="members"/>, for <see cref="OciLayoutWriter.AddLayer"/>.</summary>
    public static Action<Stream> Members(params Member[] members) => s =>
    {
        var psi = new System.Diagnostics.ProcessStartInfo("python3")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(Script);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var copy = p.StandardOutput.BaseStream.CopyToAsync(s);
        p.StandardInput.Write(JsonSerializer.Serialize(members));
        p.StandardInput.Close();
        copy.GetAwaiter().GetResult();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException("python3 tarfile failed: " + stderr.Result);
    };
}
