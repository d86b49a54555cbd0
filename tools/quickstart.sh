#!/usr/bin/env bash
# Quick start (as root on Debian 12): installs what is needed, builds RootfsForge, then its main job: builds the ZOS VM
# flist of images/debian-12.yaml (mmdebstrap from Debian's mirror, recipes, kernel with a virtiofs initrd, lint) with
# `rootfsforge build`, and lints the result. A second run says "up to date". Then, as a small in-process demo, makes a
# sample cloud image (tiny rootfs -> mke2fs -d -> GPT disk -> zstd-compressed qcow2) and extracts it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
dotnet build src/RootfsForge.Cli -c Release -nologo -v q
RFF=("$PWD/src/RootfsForge.Cli/bin/Release/net10.0/rootfsforge")

out=${1:-$PWD/sample}
mkdir -p "$out"

"${RFF[@]}" build images/debian-12.yaml -O "$out"
"${RFF[@]}" lint "$out/debian-12.tar.zst"
echo "quickstart: VM flist $out/debian-12.tar.zst and its manifest $out/debian-12.build.json (boot it: rootfsforge boot $out/debian-12.tar.zst)"
tree=$(mktemp -d); trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree"/{etc,usr/bin,usr/sbin,var/log,home/user,tmp}
printf 'PRETTY_NAME="RootfsForge sample"\nID=sample\n' > "$tree/etc/os-release"
echo "sample" > "$tree/etc/hostname"
printf '#!/bin/sh\necho hello\n' > "$tree/usr/bin/hello"; chmod 755 "$tree/usr/bin/hello"
ln -s ../bin/hello "$tree/usr/sbin/init"
ln "$tree/usr/bin/hello" "$tree/usr/bin/hello-again"
chmod 1777 "$tree/tmp"
truncate -s 1G "$tree/var/log/lastlog"; echo "last" | dd of="$tree/var/log/lastlog" bs=1 seek=4096 conv=notrunc status=none
setfattr -n user.sample -v forge "$tree/etc/hostname" 2>/dev/null || true
chown -R 1000:1000 "$tree/home/user"

rm -f "$out/sample.raw" "$out/rootfs.ext4"
mke2fs -q -t ext4 -L cloudimg-rootfs -d "$tree" "$out/rootfs.ext4" 64M
truncate -s 80M "$out/sample.raw"
sgdisk -n 15:2048:+8M -t 15:EF00 -n 1:0:0 -t 1:8300 -c 1:cloudimg-rootfs "$out/sample.raw" >/dev/null
start=$(sgdisk -i 1 "$out/sample.raw" | awk '/First sector/ {print $3}')
[ -n "$start" ] || { echo "quickstart: sgdisk did not create the root partition" >&2; exit 1; }
dd if="$out/rootfs.ext4" of="$out/sample.raw" bs=1M seek=$((start * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd "$out/sample.raw" "$out/sample.qcow2"
rm -f "$out/sample.raw" "$out/rootfs.ext4"

"${RFF[@]}" inspect "$out/sample.qcow2"
"${RFF[@]}" extract "$out/sample.qcow2" -o "$out/rootfs.tar.zst"
tar --zstd -tvf "$out/rootfs.tar.zst" | head -20
echo "quickstart: sample image $out/sample.qcow2 extracted to $out/rootfs.tar.zst"
