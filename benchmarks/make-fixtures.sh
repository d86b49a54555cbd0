#!/usr/bin/env bash
# Builds the small images the BenchmarkDotNet micro-benchmarks read, cached in <repo>/.fixtures/bench (or $1):
#   bench.ext4            bare ext4 (metadata_csum, 64bit, 4 KiB blocks) made by mke2fs -d from a slice of the Debian 12
#                         tree: usr/bin (binaries), usr/lib/python3 (many small sources), usr/share/doc (gzip'd docs), etc
#   bench-deflate.qcow2   qemu-img convert -c of bench.ext4, deflate, 64 KiB clusters
#   bench-zstd.qcow2      the same with zstd
# The slice comes from tools/make-debian-image.sh's cached tree ($ROOTFSFORGE_CACHE/debian12-rootfs, default
# /var/cache/rootfsforge); reading all of it needs root. Reruns reuse what is there.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$REPO/.fixtures/bench}
TREE=${ROOTFSFORGE_CACHE:-/var/cache/rootfsforge}/debian12-rootfs
[ -f "$OUT/bench-zstd.qcow2" ] && [ -f "$OUT/bench-deflate.qcow2" ] && [ -f "$OUT/bench.ext4" ] && exit 0
[ -f "$TREE/.complete" ] || { echo "make-fixtures: $TREE missing: run tools/make-debian-image.sh (as root) first" >&2; exit 1; }
for t in mke2fs qemu-img; do command -v $t >/dev/null || { echo "make-fixtures: missing $t" >&2; exit 1; }; done
mkdir -p "$OUT"
exec 9>"$OUT/.lock"; flock 9
stage=$(mktemp -d "$OUT/stage.XXXXXX")
trap 'rm -rf "$stage" "$OUT"/*.tmp' EXIT
mkdir -p "$stage/usr/lib" "$stage/usr/share"
cp -a "$TREE/usr/bin" "$stage/usr/"
cp -a "$TREE/usr/lib/python3" "$stage/usr/lib/"
cp -a "$TREE/usr/share/doc" "$stage/usr/share/"
cp -a "$TREE/etc" "$stage/"
kb=$(du -sk "$stage" | cut -f1)
mke2fs -q -t ext4 -b 4096 -O metadata_csum,64bit -L bench -E root_owner=0:0 -d "$stage" "$OUT/bench.ext4.tmp" "$(( kb / 1024 * 13 / 10 + 32 ))M" >/dev/null
qemu-img convert -c -f raw -O qcow2 -o compression_type=zlib,cluster_size=65536 "$OUT/bench.ext4.tmp" "$OUT/bench-deflate.qcow2.tmp"
qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd,cluster_size=65536 "$OUT/bench.ext4.tmp" "$OUT/bench-zstd.qcow2.tmp"
mv "$OUT/bench-deflate.qcow2.tmp" "$OUT/bench-deflate.qcow2"
mv "$OUT/bench-zstd.qcow2.tmp" "$OUT/bench-zstd.qcow2"
mv "$OUT/bench.ext4.tmp" "$OUT/bench.ext4"
