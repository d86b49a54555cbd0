namespace RootfsForge.Sources.Oci;

/// <summary>How a layer's tar is compressed.</summary>
public enum LayerCompression
{
    /// <summary>A plain tar.</summary>
    None,

    /// <summary>gzip (RFC 1952), possibly several members.</summary>
    Gzip,

    /// <summary>Zstandard (RFC 8878).</summary>
    Zstd,
}
