#!/usr/bin/env python3
"""Oracle comparer: an extracted tar (or directory) against the kernel's own view of the same filesystem.

  compare.py --tar OUT.tar   --root MOUNTPOINT [--seconds-only] [--ignore PATH ...]
  compare.py --dir OUTDIR    --root MOUNTPOINT [--seconds-only] [--ignore PATH ...]
  compare.py --tar OUT.tar   --root RDUMPDIR --rdump      (debugfs `rdump` tree: types, contents, link targets only)

MOUNTPOINT is a read-only loop mount of the filesystem (the reference). Compared entry by entry: the set of paths, type,
mode (all 12 permission bits), uid, gid, mtime with nanoseconds (or whole seconds), size, content (SHA-256 over the
non-zero 1 MiB chunks, read hole-aware on both sides, so a 6 GiB sparse file costs kilobytes), symlink target, device
major/minor, xattrs (every name the kernel lists, including system.posix_acl_* and security.capability, as raw bytes),
hard-link groups (same inode on the mount <=> same link group in the tar), and that holes stay holes (a tar must not
store many more bytes than the mount has allocated). Sockets cannot be stored in a tar: they must be absent, and are
counted. The root directory itself is compared too (tar entry "./" or "."), unless --ignore . is given.

Tar side: PAX headers (mtime with ns, SCHILY.xattr.*, LIBARCHIVE.xattr.*, SCHILY.acl.* text converted to the binary
xattr form, GNU.sparse 1.0 through tarfile), numeric owners, hard links as link entries to an earlier path.
.tar.gz/.tar.bz2/.tar.xz are read by tarfile; .tar.zst through `zstd -dc` into a temporary file.

Prints every difference as `PATH: FIELD mount=X tar=Y` and exits 1; exits 0 with a one-line summary when equal;
exits 2 on usage errors or unreadable input. Standard library only.
"""
import argparse
import base64
import grp
import hashlib
import os
import pwd
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
from decimal import Decimal, ROUND_FLOOR

CHUNK = 1 << 20
KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFCHR: "char",
         stat.S_IFBLK: "block", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


class Entry:
    __slots__ = ("path", "kind", "mode", "uid", "gid", "mtime_ns", "size", "target", "rdev", "xattrs", "group",
                 "segments", "reader", "stored", "allocated")

    def __init__(self, path):
        self.path = path
        self.kind = self.target = self.rdev = self.group = self.reader = None
        self.mode = self.uid = self.gid = self.mtime_ns = self.size = 0
        self.xattrs = {}
        self.segments = []
        self.stored = self.allocated = None


def show(b):
    """A path or value for humans: UTF-8 where valid, \\xNN escapes elsewhere, control characters escaped."""
    if isinstance(b, bytes):
        s = b.decode("utf-8", "backslashreplace")
    else:
        s = str(b)
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode() for c in s) or "."


def digest(size, segments, read_at):
    """SHA-256 over (size, then each non-zero 1 MiB-aligned chunk with its offset). Two files hash equal iff their
    logical contents are equal, whatever their hole layout; only chunks touching a data segment are read."""
    chunks = set()
    for off, n in segments:
        if n <= 0 or off >= size:
            continue
        end = min(off + n, size)
        chunks.update(range(off // CHUNK, (end + CHUNK - 1) // CHUNK))
    h = hashlib.sha256(struct.pack("<Q", size))
    for c in sorted(chunks):
        start = c * CHUNK
        n = min(CHUNK, size - start)
        data = read_at(start, n)
        if len(data) != n:
            raise IOError(f"short read at {start}: {len(data)} of {n}")
        if data != bytes(n):
            h.update(struct.pack("<Q", start))
            h.update(data)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------------------
# Filesystem side (the mount, or a directory extraction)

def file_segments(fd, size):
    """Data segments via SEEK_DATA/SEEK_HOLE (bounded by the file size); whole file if unsupported."""
    segs, off = [], 0
    try:
        while off < size:
            try:
                d = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break  # ENXIO: only a hole remains
            h = os.lseek(fd, d, os.SEEK_HOLE)
            if h <= d:
                return [(0, size)]
            segs.append((d, h - d))
            off = h
        return segs
    except OSError:
        return [(0, size)]


def walk_fs(root, args):
    root = os.fsencode(root)
    entries = {}
    stack = [b""]
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        st = os.lstat(full)
        e = Entry(rel)
        fmt = stat.S_IFMT(st.st_mode)
        e.kind = KINDS.get(fmt, f"unknown({fmt:o})")
        e.mode = stat.S_IMODE(st.st_mode)
        e.uid, e.gid, e.mtime_ns = st.st_uid, st.st_gid, st.st_mtime_ns
        e.group = (st.st_dev, st.st_ino)
        if fmt == stat.S_IFREG:
            e.size = st.st_size
            e.allocated = st.st_blocks * 512
            e.reader = full
        elif fmt == stat.S_IFLNK:
            e.target = os.readlink(full)
        elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
            e.rdev = (os.major(st.st_rdev), os.minor(st.st_rdev))
        if not args.rdump:
            try:
                for name in os.listxattr(full, follow_symlinks=False):
                    e.xattrs[os.fsencode(name)] = os.getxattr(full, name, follow_symlinks=False)
            except OSError as ex:
                e.xattrs[b"<listxattr error>"] = str(ex).encode()
        entries[rel] = e
        if fmt == stat.S_IFDIR:
            for child in sorted(os.listdir(full), reverse=True):
                stack.append(os.path.join(rel, child) if rel else child)
    return entries


def fs_digest(e, args=None, rel=None):
    try:
        f = open(e.reader, "rb")
    except OSError as ex:
        if args is None or not args.debugfs_image:
            raise
        # The kernel cannot read it (e.g. fs-verity without kernel support: EOPNOTSUPP): ask debugfs for the bytes.
        with tempfile.TemporaryDirectory(prefix="compare-dump-") as d:
            out = os.path.join(d, "f")
            subprocess.run(["debugfs", "-R", 'dump "/%s" %s' % (os.fsdecode(rel), out), args.debugfs_image],
                           capture_output=True, check=True)
            print(f"compare.py: {show(rel)}: {ex.strerror} on the mount; content read with debugfs", file=sys.stderr)
            with open(out, "rb") as g:
                fd = g.fileno()
                segs = file_segments(fd, e.size)
                return digest(e.size, segs, lambda off, n: os.pread(fd, n, off))
    with f:
        fd = f.fileno()
        segs = file_segments(fd, e.size)
        e.stored = sum(n for _, n in segs)
        return digest(e.size, segs, lambda off, n: os.pread(fd, n, off))


# ---------------------------------------------------------------------------------------------------------------------
# Tar side

def norm_name(name):
    b = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name
    while b.startswith(b"./") or b.startswith(b"/"):
        b = b[2:] if b.startswith(b"./") else b[1:]
    b = b.rstrip(b"/")
    return b"" if b == b"." else b


def pax_mtime_ns(m):
    v = m.pax_headers.get("mtime")
    if v is not None:
        # POSIX: a decimal number of seconds, possibly negative and fractional ("-1.5" is 1.5 s before the epoch).
        return int((Decimal(v) * 1_000_000_000).to_integral_value(rounding=ROUND_FLOOR))
    return int(m.mtime) * 1_000_000_000


ACL_TAGS = {"user": (0x01, 0x02), "group": (0x04, 0x08), "mask": (0x10, None), "other": (0x20, None)}


def acl_text_to_xattr(text):
    """GNU tar's SCHILY.acl.* text ("user::rw-,user:1000:rwx,...") to the Linux system.posix_acl_* v2 bytes."""
    entries = []
    for item in text.replace("\n", ",").split(","):
        item = item.split("#")[0].strip()
        if not item:
            continue
        parts = item.split(":")
        tag, qual, perms = parts[0], parts[1], parts[2]
        short, longtag = ACL_TAGS[tag]
        perm = (4 if "r" in perms else 0) | (2 if "w" in perms else 0) | (1 if "x" in perms else 0)
        if qual == "" or longtag is None:
            entries.append((short, 0xFFFFFFFF, perm))
        else:
            if qual.isdigit():
                ident = int(qual)
            else:
                ident = (pwd.getpwnam(qual).pw_uid if tag == "user" else grp.getgrnam(qual).gr_gid)
            entries.append((longtag, ident, perm))
    entries.sort(key=lambda t: (t[0], t[1]))
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, i) for t, i, p in entries)


def open_tar(path, tmpdir):
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"\x28\xb5\x2f\xfd":
        out = os.path.join(tmpdir, "decompressed.tar")
        with open(out, "wb") as o:
            subprocess.run(["zstd", "-dc", path], stdout=o, check=True)
        path = out
    return tarfile.open(path, "r:*", encoding="utf-8", errors="surrogateescape")


def read_tar(tf, problems, counts):
    entries = {}
    for m in tf:
        p = norm_name(m.name)
        if p in entries:
            problems.append(f"{show(p)}: duplicate tar entry")
            continue
        if p.split(b"/")[0] == b".." or b"/../" in b"/" + p + b"/":
            problems.append(f"{show(p)}: tar entry escapes the root")
            continue
        e = Entry(p)
        e.mode = m.mode & 0o7777
        e.uid, e.gid = m.uid, m.gid
        e.mtime_ns = pax_mtime_ns(m)
        for k, v in m.pax_headers.items():
            if k.startswith("SCHILY.xattr."):
                e.xattrs[k[len("SCHILY.xattr."):].encode("utf-8", "surrogateescape")] = v.encode("utf-8", "surrogateescape")
            elif k.startswith("LIBARCHIVE.xattr."):
                e.xattrs[urllib.parse.unquote_to_bytes(k[len("LIBARCHIVE.xattr."):])] = base64.b64decode(v + "==")
        for k, name in (("SCHILY.acl.access", b"system.posix_acl_access"),
                        ("SCHILY.acl.default", b"system.posix_acl_default")):
            if k in m.pax_headers and name not in e.xattrs and m.pax_headers[k].strip():
                e.xattrs[name] = acl_text_to_xattr(m.pax_headers[k])
        if m.islnk():
            target = norm_name(m.linkname)
            t = entries.get(target)
            if t is None:
                problems.append(f"{show(p)}: hard link to {show(target)}, which is not an earlier entry")
                continue
            counts["tar hard links"] = counts.get("tar hard links", 0) + 1
            # What `tar -x` produces: a second name of the target's inode, with the target's attributes.
            entries[p] = t
            continue
        if m.isreg():
            e.kind = "file"
            e.size = m.size
            e.group = p
            e.segments = list(m.sparse) if m.sparse is not None else [(0, m.size)]
            e.stored = sum(n for _, n in e.segments)
            e.reader = m
        elif m.isdir():
            e.kind = "dir"
        elif m.issym():
            e.kind = "symlink"
            e.target = m.linkname.encode("utf-8", "surrogateescape")
        elif m.ischr() or m.isblk():
            e.kind = "char" if m.ischr() else "block"
            e.rdev = (m.devmajor, m.devminor)
        elif m.isfifo():
            e.kind = "fifo"
        else:
            e.kind = f"tar-type-{m.type!r}"
        if e.group is None:
            e.group = p
        entries[p] = e
    return entries


def tar_digest(tf, e):
    f = tf.extractfile(e.reader)

    def read_at(off, n):
        f.seek(off)
        return f.read(n)
    return digest(e.size, e.segments, read_at)


# ---------------------------------------------------------------------------------------------------------------------

def ignored(p, ignores):
    return any(p == i or (i != b"" and p.startswith(i + b"/")) for i in ignores)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--tar", help="extracted tar (.tar, .tar.gz, .tar.zst, ...)")
    src.add_argument("--dir", help="extracted directory")
    ap.add_argument("--root", required=True, help="reference tree: read-only mount of the filesystem")
    ap.add_argument("--seconds-only", action="store_true", help="compare mtimes in whole seconds")
    ap.add_argument("--ignore", action="append", default=[], help="path (relative to the root) to skip, with its subtree")
    ap.add_argument("--rdump", action="store_true",
                    help="reference is a debugfs rdump tree: compare only types, contents and symlink targets; "
                         "devices/fifos/sockets are absent from it; allow debugfs 1.47.0's zero-padding of inline files")
    ap.add_argument("--debugfs-image", help="the filesystem image: read files the kernel refuses to read (EOPNOTSUPP, "
                                           "e.g. fs-verity) with `debugfs -R dump` instead")
    args = ap.parse_args()
    ignores = [norm_name(os.fsencode(i)) for i in args.ignore]
    other = "tar" if args.tar else "dir"

    problems, counts = [], {}
    try:
        ref = walk_fs(args.root, args)
    except OSError as ex:
        print(f"compare.py: cannot read {args.root}: {ex}", file=sys.stderr)
        return 2
    tmp = tempfile.TemporaryDirectory(prefix="compare-")
    tf = None
    try:
        if args.tar:
            tf = open_tar(args.tar, tmp.name)
            out = read_tar(tf, problems, counts)
        else:
            out = walk_fs(args.dir, args)
    except (OSError, tarfile.TarError, subprocess.CalledProcessError, ValueError, KeyError) as ex:
        print(f"compare.py: cannot read {args.tar or args.dir}: {ex}", file=sys.stderr)
        return 2

    def diff(p, field, a, b):
        problems.append(f"{show(p)}: {field} mount={show(a)} {other}={show(b)}")

    ref_groups, out_groups = {}, {}
    for p in sorted(set(ref) | set(out)):
        if ignored(p, ignores):
            continue
        r, o = ref.get(p), out.get(p)
        if r is not None and r.kind == "socket":
            counts["sockets"] = counts.get("sockets", 0) + 1
            if o is not None and (args.tar or o.kind != "socket"):
                problems.append(f"{show(p)}: socket on the mount, {o.kind} in the {other} (a tar cannot hold sockets)")
            continue
        if args.rdump and o is not None and o.kind in ("char", "block", "fifo", "socket") and r is None:
            counts["not in rdump"] = counts.get("not in rdump", 0) + 1
            continue
        if r is None:
            problems.append(f"{show(p)}: only in the {other} ({o.kind})")
            continue
        if o is None:
            problems.append(f"{show(p)}: missing from the {other} ({r.kind})")
            continue
        counts[r.kind] = counts.get(r.kind, 0) + 1
        if r.kind != o.kind:
            diff(p, "type", r.kind, o.kind)
            continue
        if r.kind == "file":
            if args.rdump and r.size != o.size and o.size < r.size <= 60:
                # debugfs 1.47.0 writes the whole inline area of a small inline file, zero-padded (README).
                with open(r.reader, "rb") as f:
                    rb = f.read()
                ob = tf.extractfile(o.reader).read() if args.tar else open(o.reader, "rb").read()
                if rb[:o.size] != ob or rb[o.size:].strip(b"\0"):
                    diff(p, "content", f"{r.size} bytes (rdump, padded)", f"{o.size} bytes")
                continue
            if r.size != o.size:
                diff(p, "size", r.size, o.size)
            else:
                rd = fs_digest(r, args, p)
                od = tar_digest(tf, o) if args.tar else fs_digest(o)
                if rd != od:
                    diff(p, "content", "sha256:" + rd[:16], "sha256:" + od[:16])
                elif not args.rdump and o.stored is not None and r.allocated is not None \
                        and o.stored > 2 * r.allocated + CHUNK:
                    diff(p, "holes (bytes stored)", f"{r.allocated} allocated", f"{o.stored} stored")
        if r.target != o.target:
            diff(p, "link target", r.target, o.target)
        if args.rdump:
            continue
        if r.rdev != o.rdev:
            diff(p, "device", "%s:%s" % r.rdev if r.rdev else None, "%s:%s" % o.rdev if o.rdev else None)
        if r.mode != o.mode:
            diff(p, "mode", f"{r.mode:04o}", f"{o.mode:04o}")
        if r.uid != o.uid:
            diff(p, "uid", r.uid, o.uid)
        if r.gid != o.gid:
            diff(p, "gid", r.gid, o.gid)
        rm, om = r.mtime_ns, o.mtime_ns
        if args.seconds_only:
            rm, om = rm // 1_000_000_000, om // 1_000_000_000
        if rm != om:
            diff(p, "mtime", fmt_ns(r.mtime_ns), fmt_ns(o.mtime_ns))
        for name in sorted(set(r.xattrs) | set(o.xattrs)):
            a, b = r.xattrs.get(name), o.xattrs.get(name)
            if a != b:
                problems.append(f"{show(p)}: xattr {show(name)} mount={xshow(a)} {other}={xshow(b)}")
        counts["xattrs"] = counts.get("xattrs", 0) + len(r.xattrs)
        if r.kind != "dir":
            ref_groups.setdefault(r.group, set()).add(p)
            out_groups.setdefault(o.group, set()).add(p)

    # Hard-link groups: the partition of non-directory paths by inode must equal the tar's partition by link target.
    ref_part = {frozenset(s) for s in ref_groups.values()}
    out_part = {frozenset(s) for s in out_groups.values()}
    for s in sorted(ref_part - out_part, key=sorted):
        problems.append(f"{show(min(s))}: hard-link group mount={{{', '.join(show(x) for x in sorted(s))}}} "
                        f"{other}={{{', '.join(show(x) for x in sorted(next((g for g in out_part if min(s) in g), ())))}}}")
    for s in sorted(out_part - ref_part, key=sorted):
        if any(x in g for g in ref_part - out_part for x in s):
            continue  # already reported from the mount side
        problems.append(f"{show(min(s))}: hard-link group {other}={{{', '.join(show(x) for x in sorted(s))}}} "
                        f"is not one inode on the mount")
    counts["hard-link groups"] = sum(1 for s in ref_part if len(s) > 1)

    for line in problems:
        print(line)
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    if problems:
        print(f"compare.py: {len(problems)} difference(s) ({summary})", file=sys.stderr)
        return 1
    sockets = counts.get("sockets", 0)
    print(f"compare.py: equal: {summary}" + (f" (sockets absent from the {other} by design)" if sockets else ""))
    return 0


def fmt_ns(ns):
    s, n = divmod(ns, 1_000_000_000)
    return f"{s}.{n:09d}"


def xshow(v):
    if v is None:
        return "(absent)"
    if len(v) <= 64:
        return v.hex() if any(c < 0x20 or c > 0x7E for c in v) else repr(v.decode())
    return f"{len(v)} bytes sha256:{hashlib.sha256(v).hexdigest()[:16]}"


if __name__ == "__main__":
    sys.exit(main())
