using RootfsForge.Kernel;
using RootfsForge.NativeTests.Support;
using RootfsForge.Steps;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

/// <summary>bzImage payload extraction and the decompressors, against the real Debian kernel and the CLI compressors.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class KernelPayloadTests
{
    private static string DebianKernel()
    {
        var boot = Path.Combine(DebianTree.CachedTree, "boot");
        Skip.IfNot(Directory.Exists(boot), $"no cached tree at {DebianTree.CachedTree} (run tools/make-debian-image.sh)");
        var k = Directory.GetFiles(boot, "vmlinuz-*").Order().LastOrDefault();
        Skip.If(k is null, "the cached tree has no kernel");
        return k!;
    }

    [SkippableFact]
    public void Debian_bzImage_payload_decompresses_to_the_same_ELF_as_the_CLI_tool()
    {
        var kernel = DebianKernel();
        var bytes = File.ReadAllBytes(kernel);
        Assert.True(BzImage.IsBzImage(bytes));
        Assert.Equal(Path.GetFileName(kernel)["vmlinuz-".Length..], BzImage.KernelVersion(bytes));
        var dir = TestEnvironment.NewTempDir("rff-kernel");
        try
        {
            var ours = Path.Combine(dir, "vmlinux");
            KernelCompression compression;
            using (var o = File.Create(ours)) compression = KernelPayload.ExtractVmlinux(bytes, o);
            Assert.StartsWith("ELF 64-bit LSB executable", TestEnvironment.RunChecked("file", ["-b", ours]));
            // Oracle, the scripts/extract-vmlinux way: the payload found by its magic, decompressed by the CLI tool.
            var (offset, length) = BzImage.Payload(bytes);
            var payload = Path.Combine(dir, "payload");
            File.WriteAllBytes(payload, bytes.AsSpan(offset, length).ToArray());
            var tool = compression switch
            {
                KernelCompression.Xz => "xz", KernelCompression.Gzip => "gzip", KernelCompression.Zstd => "zstd",
                KernelCompression.Bzip2 => "bzip2", KernelCompression.Lzma => "lzma", KernelCompression.Lz4Legacy => "lz4",
                _ => throw new InvalidOperationException(compression.ToString()),
            };
            var theirs = Path.Combine(dir, "vmlinux.cli");
            TestEnvironment.Run("sh", ["-c", $"{tool} -dc < '{payload}' > '{theirs}'"]); // trailing size bytes make some tools complain
            Assert.True(new FileInfo(theirs).Length > 1 << 20);
            Assert.Equal(File.ReadAllBytes(theirs), File.ReadAllBytes(ours));
            using var elf = File.OpenRead(ours);
            Assert.True(BzImage.HasPvhNote(elf), "Debian's kernel has CONFIG_PVH (Xen PVH note)");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableTheory]
    [InlineData("gzip", "gzip -9 -c", nameof(KernelCompression.Gzip))]
    [InlineData("xz", "xz --check=crc32 -c", nameof(KernelCompression.Xz))]
    [InlineData("xz", "xz --check=crc32 --x86 --lzma2=dict=32MiB -c", nameof(KernelCompression.Xz))]
    [InlineData("xz", "xz --check=crc64 --x86 --lzma2=preset=6 --block-size=64KiB -c", nameof(KernelCompression.Xz))]
    [InlineData("zstd", "zstd -19 -q -c", nameof(KernelCompression.Zstd))]
    [InlineData("bzip2", "bzip2 -9 -c", nameof(KernelCompression.Bzip2))]
    [InlineData("lzma", "lzma -9 -c", nameof(KernelCompression.Lzma))]
    [InlineData("lz4", "lz4 -l -9 -c", nameof(KernelCompression.Lz4Legacy))]
    public void Each_kernel_compression_round_trips_against_its_CLI_tool(string tool, string compress, string expectedName)
    {
        var expected = Enum.Parse<KernelCompression>(expectedName); // the enum is internal: theories take its name
        TestEnvironment.RequireTool(tool);
        // Real data with structure and repeats: a chunk of the test assembly itself, three times .
        var sample = File.ReadAllBytes(typeof(KernelPayloadTests).Assembly.Location);
        var data = sample.Concat(sample).Concat(sample).ToArray();
        var dir = TestEnvironment.NewTempDir("rff-comp");
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "in"), data);
            TestEnvironment.RunChecked("sh", ["-c", $"{compress} '{Path.Combine(dir, "in")}' > '{Path.Combine(dir, "out")}'"]);
            var compressed = File.ReadAllBytes(Path.Combine(dir, "out"));
            Assert.Equal(expected, KernelPayload.Detect(compressed));
            using var input = new MemoryStream(compressed);
            using var decoder = KernelPayload.Open(input, expected);
            using var result = new MemoryStream();
            decoder.CopyTo(result);
            Assert.Equal(data, result.ToArray());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>
    /// Why Kernel/XzDecoder.cs keeps its own x86 BCJ path: SharpCompress's XZStream cannot decode what
    /// <c>xz --x86</c> writes (the kernel's payload format). When this starts failing, SharpCompress was fixed: use it.
    /// </summary>
    [SkippableFact]
    public void SharpCompress_XZStream_still_cannot_decode_x86_BCJ_so_XzDecoder_does()
    {
        TestEnvironment.RequireTool("xz");
        // Real x86-64 machine code, as in a kernel (the runtime's own library; 7 MB): call/jmp operands that BCJ rewrites
        // fall across SharpCompress's read boundaries. (A managed DLL happens to decode: it has too few E8/E9 bytes.)
        var native = Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "libcoreclr.so");
        Skip.IfNot(File.Exists(native) && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture
            == System.Runtime.InteropServices.Architecture.X64, "needs the x86-64 runtime's libcoreclr.so as x86 code");
        var data = File.ReadAllBytes(native);
        var dir = TestEnvironment.NewTempDir("rff-xz");
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "in"), data);
            TestEnvironment.RunChecked("sh", ["-c", $"xz --check=crc32 --x86 --lzma2 -c '{Path.Combine(dir, "in")}' > '{Path.Combine(dir, "out")}'"]);
            var compressed = File.ReadAllBytes(Path.Combine(dir, "out"));
            byte[]? theirs = null;
            try
            {
                using var xz = new SharpCompress.Compressors.Xz.XZStream(new MemoryStream(compressed));
                using var result = new MemoryStream();
                xz.CopyTo(result);
                theirs = result.ToArray();
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                // "Block check corrupt" with 0.50.8
            }
            Assert.False(theirs is not null && theirs.AsSpan().SequenceEqual(data), "SharpCompress now decodes x86 BCJ: drop XzDecoder's own path");
            using var ours = KernelPayload.Open(new MemoryStream(compressed), KernelCompression.Xz);
            using var output = new MemoryStream();
            ours.CopyTo(output);
            Assert.Equal(data, output.ToArray());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableTheory]
    [InlineData("gzip", "gzip -c", nameof(KernelCompression.Gzip))]
    [InlineData("xz", "xz --check=crc32 -c", nameof(KernelCompression.Xz))]
    [InlineData("xz", "xz --check=crc32 --x86 --lzma2 -c", nameof(KernelCompression.Xz))]
    [InlineData("zstd", "zstd -q -c", nameof(KernelCompression.Zstd))]
    [InlineData("bzip2", "bzip2 -c", nameof(KernelCompression.Bzip2))]
    [InlineData("lz4", "lz4 -l -c", nameof(KernelCompression.Lz4Legacy))]
    public void Corrupt_compressed_data_gives_an_ImageFormatException_whichever_library_decodes_it(string tool, string compress, string compressionName)
    {
        var compression = Enum.Parse<KernelCompression>(compressionName);
        TestEnvironment.RequireTool(tool);
        var data = File.ReadAllBytes(typeof(KernelPayloadTests).Assembly.Location);
        var dir = TestEnvironment.NewTempDir("rff-corrupt");
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "in"), data);
            TestEnvironment.RunChecked("sh", ["-c", $"{compress} '{Path.Combine(dir, "in")}' > '{Path.Combine(dir, "out")}'"]);
            var compressed = File.ReadAllBytes(Path.Combine(dir, "out"));
            // Flip bytes in the middle of the compressed data (past every header).
            for (int i = compressed.Length / 2; i < compressed.Length / 2 + 64; i++) compressed[i] ^= 0x5A;
            var e = Assert.ThrowsAny<ImageFormatException>(Decode);
            Assert.Equal(ImageErrorKind.Corrupt, e.Kind);

            void Decode()
            {
                using var decoder = KernelPayload.Open(new MemoryStream(compressed), compression);
                using var output = new MemoryStream();
                decoder.CopyTo(output);
                // A decoder without a check may produce wrong bytes instead: that must not pass silently either.
                if (output.ToArray().AsSpan().SequenceEqual(data)) throw new Xunit.Sdk.XunitException("corruption not noticed at all");
                throw new ImageFormatException("decoded to different bytes (no check in this format)", "test");
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Truncated_or_foreign_bzImage_gives_one_clear_error()
    {
        var junk = new byte[4096];
        Assert.Throws<ImageFormatException>(() => BzImage.Payload(junk));
        junk[0x1FE] = 0x55; junk[0x1FF] = 0xAA; "HdrS"u8.CopyTo(junk.AsSpan(0x202));
        junk[0x206] = 0x0F; junk[0x207] = 0x02; // protocol 2.15
        junk[0x24C] = 0xFF; junk[0x24D] = 0xFF; junk[0x24E] = 0xFF; // payload length way past the end
        var e = Assert.Throws<ImageFormatException>(() => BzImage.Payload(junk));
        Assert.Equal(ImageErrorKind.Corrupt, e.Kind);
        Assert.Equal("bzImage payload_offset", e.Structure);
        Assert.Equal(0x248, e.Offset);
    }
}
