namespace RootfsForge.Tree;

/// <summary>
/// Takes over file contents while a source reads them once, in order (a layer being decompressed), so a sink that will
/// encode every content anyway (a <c>.fl</c>'s blocks) does it then, on the cores the download leaves idle, instead of
/// the source keeping a plain copy for the sink to read back. The source keeps an <see cref="EncodedContent"/> in the
/// copy's place; it still reads back byte for byte (decoded), so any other reader sees the same content.
/// </summary>
internal abstract class ContentEncoder
{
    /// <summary>
    /// Starts the content of one file of <paramref name="length"/> (≥ 1) bytes, handed over in order by
    /// <see cref="EncodedContent.AppendAsync"/>; null when the encoder does not take it (the source keeps it itself).
    /// The length is the header's claim: the bytes may end sooner (<see cref="EncodedContent.End"/>).
    /// </summary>
    public abstract EncodedContent? Begin(long length);
}

/// <summary>One file's content held by a <see cref="ContentEncoder"/>.</summary>
internal abstract class EncodedContent
{
    /// <summary>The content's length in bytes.</summary>
    public abstract long Length { get; }

    /// <summary>The encoder that holds it (a sink uses only contents its own encoder made).</summary>
    public abstract ContentEncoder Encoder { get; }

    /// <summary>
    /// Appends the next bytes of the content (copied before it returns). Once <see cref="Length"/> bytes came, the
    /// content is complete; <see cref="Encoded"/> ends when its last byte is encoded.
    /// </summary>
    public abstract ValueTask AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Ends the content early (its source was cut short): the bytes appended so far are all there is.</summary>
    public abstract void End();

    /// <summary>Completes once every byte is encoded (faults with the encoder's failure).</summary>
    public abstract Task Encoded { get; }

    /// <summary>Reads <paramref name="destination"/>.Length bytes at <paramref name="offset"/>, decoded, after <see cref="Encoded"/>.</summary>
    public abstract void ReadExactly(long offset, Span<byte> destination);
}
