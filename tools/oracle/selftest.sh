#!/usr/bin/env bash
# Validates compare.py itself against GNU tar and deliberate changes (needs root: loop mounts).
#
#   tools/oracle/selftest.sh FSIMAGE
#
# 1. GNU tar (--xattrs --xattrs-include='*' --acls --sparse --numeric-owner, PAX) of the read-only mount compares equal.
# 2. `cp -a` of the mount into a directory compares equal in --dir mode.
# 3. A copy of the filesystem changed in one way per path (content, size, mode, setuid, uid, gid, mtime ns, xattr value,
#    xattr removed, ACL, capability, symlink target, device number, hard link broken, new hard link, file removed,
#    file added, type changed) compared against the tar of the original: every change must be reported, and nothing else.
# 4. A tar with one byte of file data flipped is caught; a truncated tar is an error (exit 2) or a difference (exit 1).
# Prints what it checks; exits non-zero on the first check that fails.
set -euo pipefail
IMG=${1:?usage: selftest.sh FSIMAGE}
HERE=$(cd "$(dirname "$0")" && pwd)
CMP="$HERE/compare.py"
W=$(mktemp -d /tmp/oracle-selftest.XXXXXX)
cleanup() { umount "$W/m" 2>/dev/null || true; umount "$W/m2" 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
mkdir "$W/m" "$W/m2"
fail() { echo "selftest FAILED: $*" >&2; exit 1; }

mount -o ro,loop "$IMG" "$W/m"
tar --xattrs --xattrs-include='*' --acls --sparse --numeric-owner --format=posix -C "$W/m" -cf "$W/gnu.tar" . 2>"$W/tar.err" || true
grep -v 'socket ignored' "$W/tar.err" >&2 || true
python3 "$CMP" --tar "$W/gnu.tar" --root "$W/m" >"$W/out" 2>&1 || { cat "$W/out"; fail "GNU tar of the mount does not compare equal"; }
echo "ok: GNU tar compares equal: $(tail -n1 "$W/out")"

mkdir "$W/copy"
cp -a --sparse=always "$W/m/." "$W/copy/"
touch -h -r "$W/m" "$W/copy"
python3 "$CMP" --dir "$W/copy" --root "$W/m" >"$W/out" 2>&1 || { cat "$W/out"; fail "cp -a of the mount does not compare equal in --dir mode"; }
echo "ok: cp -a copy compares equal in --dir mode"

# 3. One change per path in a copy of the filesystem.
cp --sparse=always "$IMG" "$W/changed.img"
mount -o loop "$W/changed.img" "$W/m2"
C="$W/m2"
printf 'X' | dd of="$C/sizes/size-4096" bs=1 seek=2000 conv=notrunc status=none
echo more >>"$C/sizes/size-1025"
chmod 0600 "$C/sizes/size-65535"
chmod u-s "$C/modes/setuid"
chown 4000000001 "$C/owners/uid-4000000000"
chgrp 54321 "$C/owners/gid-12345"
touch -d "@$(( $(stat -c %Y "$W/m/sizes/size-1024") + 1 )).5" "$C/sizes/size-1024"   # +1.5 s: visible with 128-byte inodes too
setfattr -n user.text -v "hello World" "$C/xattrs/user"
setfattr -x user.large "$C/xattrs/large-value"
setfacl -m u:1001:r "$C/xattrs/acl-access"
setcap cap_net_admin+ep "$C/xattrs/capability"
rm "$C/symlinks/dangling"; ln -s does/not/exist2 "$C/symlinks/dangling"; touch -h -r "$W/m/symlinks/dangling" "$C/symlinks/dangling"
rm "$C/special/chr-1-3"; mknod "$C/special/chr-1-3" c 1 4; touch -r "$W/m/special/chr-1-3" "$C/special/chr-1-3"
cp -p "$C/links/b/two" "$C/links/b/two.new"; mv "$C/links/b/two.new" "$C/links/b/two"
ln -f "$C/sizes/size-1" "$C/sizes/size-1-link"
rm "$C/bigdir/entry-00777"
echo new >"$C/empty/one/added"
rm "$C/inline/tiny-10"; mkdir "$C/inline/tiny-10"
printf 'Y' | dd of="$C/holes/sparse-6g" bs=1 seek=$((6*1024*1024*1024)) conv=notrunc status=none
for f in sizes/size-4096 sizes/size-1025 holes/sparse-6g; do touch -r "$W/m/$f" "$C/$f"; done
# Restore directory mtimes touched by the changes, so that only the intended differences remain.
for d in symlinks special links/b sizes bigdir empty/one inline; do touch -r "$W/m/$d" "$C/$d"; done
umount "$C"; mount -o ro,loop "$W/changed.img" "$C"
set +e; python3 "$CMP" --tar "$W/gnu.tar" --root "$C" >"$W/out" 2>&1; rc=$?; set -e
[ $rc = 1 ] || { cat "$W/out"; fail "changed filesystem: exit $rc, expected 1"; }
expect=(
  "sizes/size-4096: content" "sizes/size-1025: size" "sizes/size-65535: mode mount=0600" "modes/setuid: mode mount=0755"
  "owners/uid-4000000000: uid mount=4000000001 tar=4000000000" "owners/gid-12345: gid mount=54321 tar=12345"
  "sizes/size-1024: mtime" "xattrs/user: xattr user.text" "xattrs/large-value: xattr user.large mount=(absent)"
  "xattrs/acl-access: xattr system.posix_acl_access" "xattrs/capability: xattr security.capability"
  "symlinks/dangling: link target mount=does/not/exist2" "special/chr-1-3: device mount=1:4 tar=1:3"
  "links/a/one: hard-link group" "bigdir/entry-00777: only in the tar"
  "empty/one/added: missing from the tar" "inline/tiny-10: type mount=dir tar=file" "holes/sparse-6g: content"
  "sizes/size-1-link: missing from the tar"
)
for e in "${expect[@]}"; do grep -qF -- "$e" "$W/out" || { cat "$W/out"; fail "change not reported: $e"; }; done
n=$(grep -c . "$W/out"); [ "$n" -le $(( ${#expect[@]} + 3 )) ] || { cat "$W/out"; fail "unexpected extra differences ($n lines)"; }
echo "ok: ${#expect[@]} deliberate changes all reported ($((n - 1)) lines)"
umount "$C"

# 4. Tar-level damage.
python3 - "$W/gnu.tar" "$W/flipped.tar" <<'EOF'
import sys, tarfile, shutil
src, dst = sys.argv[1:3]
shutil.copyfile(src, dst)
with tarfile.open(src) as tf:
    m = next(m for m in tf if m.name.endswith("sizes/size-65537"))
with open(dst, "r+b") as f:
    f.seek(m.offset_data + 40000); b = f.read(1); f.seek(m.offset_data + 40000); f.write(bytes([b[0] ^ 1]))
EOF
set +e; python3 "$CMP" --tar "$W/flipped.tar" --root "$W/m" >"$W/out" 2>&1; rc=$?; set -e
[ $rc = 1 ] && grep -qF "sizes/size-65537: content" "$W/out" || { cat "$W/out"; fail "flipped data byte not caught (exit $rc)"; }
echo "ok: a flipped data byte in the tar is caught"
head -c $(( $(stat -c %s "$W/gnu.tar") / 2 )) "$W/gnu.tar" >"$W/trunc.tar"
set +e; python3 "$CMP" --tar "$W/trunc.tar" --root "$W/m" >"$W/out" 2>&1; rc=$?; set -e
[ $rc = 1 ] || [ $rc = 2 ] || { cat "$W/out"; fail "truncated tar: exit $rc"; }
echo "ok: a truncated tar is rejected (exit $rc)"
echo "selftest: all checks passed"
