namespace RootfsForge.Tree;

/// <summary>
/// One extended attribute in the Linux xattr namespace form (<c>user.foo</c>, <c>security.capability</c>,
/// <c>system.posix_acl_access</c> in the v2 xattr encoding, ...). The value is raw bytes.
/// </summary>
/// <param name="Name">The full name with its namespace prefix.</param>
/// <param name="Value">The raw value.</param>
public sealed record ExtendedAttribute(string Name, byte[] Value);
