using System.Runtime.InteropServices;

namespace RootfsForge.Disks.Qcow2;

internal static unsafe partial class ZstdCluster
{
    /// <summary>
    /// The system's libzstd (Debian: libzstd1, which dpkg itself depends on), used when it loads: its decoder is several
    /// times faster than the managed port on qcow2's 64 KiB frames. Absent or incomplete, the managed decoder is used.
    /// </summary>
    private static class Native
    {
        // zstd.h: ZSTD_inBuffer { const void* src; size_t size; size_t pos; }, ZSTD_outBuffer { void* dst; size_t size; size_t pos; }
        [StructLayout(LayoutKind.Sequential)]
        public struct Buffer
        {
            public void* Data;
            public nuint Size;
            public nuint Pos;
        }

        private const int ResetSessionOnly = 1; // ZSTD_reset_session_only

        private static readonly delegate* unmanaged<nint> s_createDCtx;
        private static readonly delegate* unmanaged<nint, nuint> s_freeDCtx;
        private static readonly delegate* unmanaged<nint, int, nuint> s_reset;
        private static readonly delegate* unmanaged<nint, Buffer*, Buffer*, nuint> s_decompressStream;
        private static readonly delegate* unmanaged<nuint, uint> s_isError;
        private static readonly delegate* unmanaged<nuint, byte*> s_errorName;

        public static bool Available { get; }

        static Native()
        {
            if (!OperatingSystem.IsLinux() && !OperatingSystem.IsFreeBSD()) return;
            if (!NativeLibrary.TryLoad("libzstd.so.1", typeof(ZstdCluster).Assembly, null, out var lib)) return;
            if (NativeLibrary.TryGetExport(lib, "ZSTD_createDCtx", out var create)
                && NativeLibrary.TryGetExport(lib, "ZSTD_freeDCtx", out var free)
                && NativeLibrary.TryGetExport(lib, "ZSTD_DCtx_reset", out var reset)
                && NativeLibrary.TryGetExport(lib, "ZSTD_decompressStream", out var decompress)
                && NativeLibrary.TryGetExport(lib, "ZSTD_isError", out var isError)
                && NativeLibrary.TryGetExport(lib, "ZSTD_getErrorName", out var errorName))
            {
                s_createDCtx = (delegate* unmanaged<nint>)create;
                s_freeDCtx = (delegate* unmanaged<nint, nuint>)free;
                s_reset = (delegate* unmanaged<nint, int, nuint>)reset;
                s_decompressStream = (delegate* unmanaged<nint, Buffer*, Buffer*, nuint>)decompress;
                s_isError = (delegate* unmanaged<nuint, uint>)isError;
                s_errorName = (delegate* unmanaged<nuint, byte*>)errorName;
                Available = true;
            }
        }

        /// <summary>One decoder context, freed when its thread's reference goes away.</summary>
        public sealed class Context : SafeHandle
        {
            public Context() : base(0, ownsHandle: true)
            {
                SetHandle(s_createDCtx());
                if (handle == 0) throw new OutOfMemoryException("ZSTD_createDCtx failed");
            }

            public override bool IsInvalid => handle == 0;

            protected override bool ReleaseHandle()
            {
                s_freeDCtx(handle);
                return true;
            }

            /// <summary>Like <see cref="ZstdCluster.Decode"/>: frames one after another until the destination is full.</summary>
            public int Decode(ReadOnlySpan<byte> input, Span<byte> destination)
            {
                Check(s_reset(handle, ResetSessionOnly));
                fixed (byte* src = input)
                fixed (byte* dst = destination)
                {
                    var inBuf = new Buffer { Data = src, Size = (nuint)input.Length };
                    var outBuf = new Buffer { Data = dst, Size = (nuint)destination.Length };
                    // Each pass consumes input or produces output, else it stops; the pass bound is only a guard.
                    for (int pass = 0; outBuf.Pos < outBuf.Size && pass < 1_000_000; pass++)
                    {
                        nuint inBefore = inBuf.Pos, outBefore = outBuf.Pos;
                        // A return of 0 ends a frame; the next call starts the following frame from the remaining input.
                        Check(s_decompressStream(handle, &outBuf, &inBuf));
                        if (inBuf.Pos == inBefore && outBuf.Pos == outBefore) break;
                    }
                    return (int)outBuf.Pos;
                }
            }

            private static void Check(nuint code)
            {
                if (s_isError(code) != 0)
                    throw new InvalidDataException(Marshal.PtrToStringAnsi((nint)s_errorName(code)) ?? "zstd error");
            }
        }
    }
}
