#!/usr/bin/python3
"""Python's view of the difference between two trees (each a directory or a tar), in fl diff's terms:
{path: (change, type, {field: (old, new)})}. Independent of RootfsForge: os.lstat, tarfile, byte comparison."""
import json, os, stat, sys, tarfile

def walk_dir(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            m = st.st_mode
            if stat.S_ISLNK(m): t, extra = "symlink", os.readlink(p)
            elif stat.S_ISDIR(m): t, extra = "directory", None
            elif stat.S_ISREG(m): t, extra = "file", ("dir", p)
            elif stat.S_ISCHR(m): t, extra = "char-device", f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}"
            elif stat.S_ISBLK(m): t, extra = "block-device", f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}"
            elif stat.S_ISFIFO(m): t, extra = "fifo", None
            else: t, extra = "socket", None
            out[rel] = (t, stat.S_IMODE(m), st.st_uid, st.st_gid, st.st_size, extra)
    return out

def walk_tar(path):
    out = {}
    tf = tarfile.open(path)
    for m in tf.getmembers():
        rel = os.path.normpath(m.name).lstrip("/")
        if rel in (".", ""): continue
        if m.issym(): t, extra = "symlink", m.linkname
        elif m.isdir(): t, extra = "directory", None
        elif m.isfile() or m.islnk(): t, extra = "file", ("tar", tf, m)
        elif m.ischr(): t, extra = "char-device", f"{m.devmajor},{m.devminor}"
        elif m.isblk(): t, extra = "block-device", f"{m.devmajor},{m.devminor}"
        else: t, extra = "fifo", None
        size = tf.getmember(m.linkname).size if m.islnk() else m.size
        out[rel] = (t, m.mode & 0o7777, m.uid, m.gid, size, extra)
    return out

def content(extra):
    if extra[0] == "dir":
        with open(extra[1], "rb") as f: return f.read()
    tf, m = extra[1], extra[2]
    return tf.extractfile(m).read()

def view(p): return walk_dir(p) if os.path.isdir(p) else walk_tar(p)

a, b = view(sys.argv[1]), view(sys.argv[2])
result = {}
for p in sorted(set(a) | set(b)):
    if p not in a: result[p] = ["added", b[p][0], {}]; continue
    if p not in b: result[p] = ["removed", a[p][0], {}]; continue
    (ta, ma, ua, ga, sa, xa), (tb, mb, ub, gb, sb, xb) = a[p], b[p]
    f = {}
    if ta != tb: f["type"] = [ta, tb]
    elif ta == "file":
        if sa != sb or content(xa) != content(xb): f["content"] = [str(sa), str(sb)]
    elif ta == "symlink" and xa != xb: f["target"] = [xa, xb]
    elif ta in ("char-device", "block-device") and xa != xb: f["device"] = [xa, xb]
    if "symlink" not in (ta, tb) and ma != mb: f["mode"] = ["0%03o" % ma, "0%03o" % mb]
    if (ua, ga) != (ub, gb): f["owner"] = [f"{ua}:{ga}", f"{ub}:{gb}"]
    if f: result[p] = ["changed", tb, f]
json.dump(result, sys.stdout, sort_keys=True)
