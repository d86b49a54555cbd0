using RootfsForge.IO;

namespace RootfsForge.Kernel;

/// <summary>
/// Wraps a decompressor so that what each library throws for bad data (GZipStream's InvalidDataException, ZstdSharp's
/// ZstdException, SharpCompress's format and data errors) reaches the caller as one <see cref="ImageFormatException"/>
/// naming the compression. Errors of the underlying input (an <see cref="IOException"/>) and cancellation pass through.
/// </summary>
internal sealed class DecoderErrorStream(Stream decoder, KernelCompression compression) : ForwardReadStream
{
    private long _produced;

    public override int Read(Span<byte> destination)
    {
        try
        {
            int n = decoder.Read(destination);
            _produced += n;
            return n;
        }
        catch (Exception e) when (IsDataError(e))
        {
            throw Translate(e, compression, _produced);
        }
    }

    /// <summary>True for what a decoder throws about its input data (not the input's own I/O errors or a cancellation).</summary>
    public static bool IsDataError(Exception e) =>
        e is EndOfStreamException || e is not (IOException or OperationCanceledException or OutOfMemoryException);

    /// <summary>The <see cref="ImageFormatException"/> for a decoder's exception <paramref name="e"/>.</summary>
    public static ImageFormatException Translate(Exception e, KernelCompression compression, long produced) =>
        e is EndOfStreamException
            ? new ImageFormatException($"the data ends early, after {produced} decompressed bytes", $"{compression} stream", null, e,
                ImageErrorKind.Truncated)
            : new ImageFormatException($"corrupt data after {produced} decompressed bytes: {e.Message}", $"{compression} stream", null, e);

    protected override void Dispose(bool disposing)
    {
        if (disposing) decoder.Dispose();
        base.Dispose(disposing);
    }
}
