#!/usr/bin/env bash
# Builds the realistic Debian 12 cloud-like benchmark/test image (README "Performance") from images/debian12-cloud.yaml, cached:
#   $CACHE/debian12-rootfs/            debootstrap tree (minbase + systemd-sysv, openssh-server, linux-image-amd64, cloud-init)
#   $CACHE/debian12.raw                GPT disk like Ubuntu's cloud images: p14 BIOS boot, p15 EFI, p1 ext4 root "cloudimg-rootfs"
#   $CACHE/debian12-deflate.qcow2      qemu-img convert -c, deflate, 64 KiB clusters
#   $CACHE/debian12-zstd.qcow2         qemu-img convert -c, zstd, 64 KiB clusters
# Usage: tools/make-debian-image.sh [--double]   (--double also makes debian12x2.*: the same tree twice, for memory scaling)
#        tools/make-debian-image.sh --print-source   (prints the debootstrap parameters read from the definition, builds nothing)
# Needs root (debootstrap). CACHE defaults to /var/cache/rootfsforge; override with ROOTFSFORGE_CACHE.
set -euo pipefail
CACHE=${ROOTFSFORGE_CACHE:-/var/cache/rootfsforge}
DEFINITION="$(dirname "$0")/../images/debian12-cloud.yaml"
# The tree comes from the image's definition (its mmdebstrap source: suite, mirror, variant, include), read with Debian's
# python3-yaml; the disk layout below is this script's own (a definition describes a tree, not a disk).
command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null \
  || { echo "make-debian-image: needs python3 with python3-yaml (apt-get install python3-yaml)" >&2; exit 1; }
eval "$(python3 - "$DEFINITION" <<'PY'
import shlex, sys, yaml
src = yaml.safe_load(open(sys.argv[1]))["from"]["mmdebstrap"]
for name, value in (("SUITE", src["suite"]), ("DEFINITION_MIRROR", src["mirror"]), ("VARIANT", src.get("variant", "")),
                    ("INCLUDE", ",".join(src.get("include", [])))):
    print(f"{name}={shlex.quote(value)}")
PY
)"
MIRROR=${DEBIAN_MIRROR:-$DEFINITION_MIRROR}
if [ "${1:-}" = "--print-source" ]; then printf 'SUITE=%s\nMIRROR=%s\nVARIANT=%s\nINCLUDE=%s\n' "$SUITE" "$MIRROR" "$VARIANT" "$INCLUDE"; exit 0; fi

# Root filesystem: ext4 with the Ubuntu cloud image's features and label; size = tree * 1.3 + 256 MiB.
FS_TYPE=ext4
FS_BLOCK_SIZE=4096
FS_FEATURES=metadata_csum,64bit
FS_LABEL=cloudimg-rootfs
# GPT like Ubuntu's: p14 BIOS boot (4 MiB), p15 EFI system (106 MiB), p1 the root (rest).
BIOS_PARTITION_SIZE=4M
EFI_PARTITION_SIZE=106M
# qcow2 conversions: qemu-img convert -c with 64 KiB clusters, one per compression type (qemu's name:our file suffix).
QCOW2_CLUSTER_SIZE=65536
QCOW2_COMPRESSION="zlib:deflate zstd:zstd"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"; flock 9   # one builder at a time; others wait and then reuse the cache

need() { command -v "$1" >/dev/null || { echo "make-debian-image: missing $1 (apt-get install $2)" >&2; exit 1; }; }
need debootstrap debootstrap; need mke2fs e2fsprogs; need sgdisk gdisk; need qemu-img qemu-utils

ROOT="$CACHE/debian12-rootfs"
if [ ! -f "$ROOT/.complete" ]; then
  rm -rf "$ROOT" "$ROOT.tmp"
  debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$ROOT.tmp" "$MIRROR"
  # An unmounted, quiescent tree: no leftover mounts from debootstrap.
  rm -f "$ROOT.tmp/var/cache/apt/archives/"*.deb
  mv "$ROOT.tmp" "$ROOT"
  touch "$ROOT/.complete"
fi

# make_disk NAME SOURCEDIR...: ext4 with Ubuntu cloud-image features from the given trees, in an Ubuntu-like GPT.
make_disk() {
  local name=$1; shift
  local raw="$CACHE/$name.raw"
  [ -f "$CACHE/$name-zstd.qcow2" ] && [ -f "$raw" ] && [ -f "$CACHE/$name-deflate.qcow2" ] && return 0
  local stage i=0
  if [ $# -eq 1 ]; then stage="$1"; else
    stage=$(mktemp -d "$CACHE/stage.XXXXXX")
    for src in "$@"; do i=$((i+1)); cp -a "$src" "$stage/copy$i"; done
  fi
  local kb; kb=$(du -sk --exclude=.complete "$stage" | cut -f1)
  local fsmb=$(( kb / 1024 * 13 / 10 + 256 ))
  local fs="$CACHE/$name.ext4.tmp"
  rm -f "$fs"
  mke2fs -q -t "$FS_TYPE" -b "$FS_BLOCK_SIZE" -O "$FS_FEATURES" -L "$FS_LABEL" -E root_owner=0:0 -d "$stage" "$fs" "${fsmb}M"
  [ "$stage" = "$1" ] || rm -rf "$stage"
  local fssectors=$(( fsmb * 2048 ))
  local bios=$(( $(numfmt --from=iec "$BIOS_PARTITION_SIZE") / 512 )) efi=$(( $(numfmt --from=iec "$EFI_PARTITION_SIZE") / 512 ))
  local total=$(( 2048 + bios + efi + fssectors + 2048 ))   # 1 MiB gap, BIOS boot, EFI, root, GPT backup
  rm -f "$raw.tmp"; truncate -s $(( total * 512 )) "$raw.tmp"
  sgdisk -q -Z "$raw.tmp" >/dev/null 2>&1 || true
  # sgdisk -q exits 0 even when it refuses a partition, so check the result explicitly.
  sgdisk -n 14:2048:+"$BIOS_PARTITION_SIZE" -t 14:EF02 -n 15:0:+"$EFI_PARTITION_SIZE" -t 15:EF00 -n 1:0:0 -t 1:8300 \
    -c 1:"$FS_LABEL" "$raw.tmp" >/dev/null
  local start; start=$(sgdisk -i 1 "$raw.tmp" | awk '/First sector/ {print $3}')
  [ -n "$start" ] || { echo "make-debian-image: sgdisk did not create the root partition" >&2; exit 1; }
  dd if="$fs" of="$raw.tmp" bs=1M seek=$(( start * 512 )) oflag=seek_bytes conv=notrunc,sparse status=none
  rm -f "$fs"
  local c
  for c in $QCOW2_COMPRESSION; do   # qemu's compression_type:our file suffix
    qemu-img convert -c -f raw -O qcow2 -o "compression_type=${c%%:*},cluster_size=$QCOW2_CLUSTER_SIZE" "$raw.tmp" "$CACHE/$name-${c##*:}.qcow2.tmp"
    mv "$CACHE/$name-${c##*:}.qcow2.tmp" "$CACHE/$name-${c##*:}.qcow2"
  done
  mv "$raw.tmp" "$raw"
}

make_disk debian12 "$ROOT"
if [ "${1:-}" = "--double" ]; then make_disk debian12x2 "$ROOT" "$ROOT"; fi
ls -la "$CACHE"
