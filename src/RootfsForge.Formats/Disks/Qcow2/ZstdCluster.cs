using System.Buffers;
using ZstdSharp;

namespace RootfsForge.Disks.Qcow2;

/// <summary>
/// Decodes a zstd-compressed qcow2 cluster (compression type 1): one or more standard frames with no length prefix,
/// streamed until the cluster is full, because the exact compressed length is unknown (docs/disk-formats.md §1.5).
/// Keeps one decoder context per thread so clusters do not each pay for a new context. Uses the system's libzstd when
/// it loads, else ZstdSharp.
/// </summary>
internal static partial class ZstdCluster
{
    [ThreadStatic]
    private static Decompressor? t_decompressor;

    [ThreadStatic]
    private static Native.Context? t_native;

    /// <summary>True when the system's libzstd loaded.</summary>
    internal static bool NativeAvailable => Native.Available;

    /// <summary>Returns the number of bytes produced (less than the destination only if the input ran out).</summary>
    public static int Decode(ReadOnlySpan<byte> input, Span<byte> destination)
    {
        if (Native.Available) return (t_native ??= new Native.Context()).Decode(input, destination);
        return DecodeManaged(input, destination);
    }

    /// <summary>The managed decoder (ZstdSharp), the fallback; tests compare it with the native one.</summary>
    internal static int DecodeManaged(ReadOnlySpan<byte> input, Span<byte> destination)
    {
        var decompressor = t_decompressor ??= new Decompressor();
        decompressor.ResetStream();
        int read = 0, written = 0;
        // Each pass consumes input or produces output, so the loop ends; the bound is a guard against a stuck decoder.
        for (int pass = 0; written < destination.Length && pass < 1_000_000; pass++)
        {
            var status = decompressor.UnwrapStream(input[read..], destination[written..], out int consumed, out int produced);
            read += consumed;
            written += produced;
            if (status == OperationStatus.DestinationTooSmall || written == destination.Length) break;
            if (consumed == 0 && produced == 0) break; // input exhausted (NeedMoreData) or nothing decodable
            if (status == OperationStatus.Done) decompressor.ResetStream(); // next frame
        }
        return written;
    }
}
