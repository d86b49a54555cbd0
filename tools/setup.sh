#!/usr/bin/env bash
# Installs what RootfsForge's build, quick start and tests need on Debian 12 (run as root). Idempotent.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then echo "setup.sh: run as root (apt-get, loop mounts, chroot)" >&2; exit 1; fi

PACKAGES=(
  e2fsprogs gdisk fdisk util-linux qemu-utils     # fixtures: mke2fs -d, sgdisk, sfdisk, qemu-img/qemu-io
  xfsprogs                                         # partition tests: a non-ext root candidate
  qemu-system-x86                                  # boot test: qemu-system-x86_64 and /usr/lib/qemu/virtiofsd
  dosfstools mtools                                # boot test: the cidata disk
  python3 attr acl libcap2-bin                     # oracle comparer; setfattr/setfacl/setcap for fixtures
  python3-yaml                                     # tools/make-debian-image.sh reads images/debian12-cloud.yaml
  tar libarchive-tools zstd xz-utils lz4 bzip2 cpio  # tar readers used as oracles; initramfs tools
  debootstrap                                      # the Debian 12 cloud-like image
  mmdebstrap                                       # images/debian-12.yaml (rootfsforge build, quick start)
  redis-server                                     # zdb:// store tests (speaks 0-db's EXISTS/SET/GET)
  docker-registry buildah skopeo umoci             # OCI sources: registry, image builds/pushes, layouts, unpack oracle
  busybox-static apache2-utils                     # OCI test base image (/bin/busybox); htpasswd -B for registry auth
  python3-flask                                    # the 0-hub stand-in (tools/hub-standin: Flask/werkzeug, the hub's stack)
  sqlite3                                          # reliability fuzz test: mutates .fl rows
  time hyperfine ca-certificates curl
  clang                                            # Native AOT of the rootfsforge tool (its package test, tools/publish.sh)
  man-db                                           # the man page test renders rootfsforge(1) with man -l
  zsh fish                                         # the completion test checks the zsh and fish scripts parse
)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# s3rver (s3:// store tests) needs Node.js with npm. Machines that already have a Node.js from elsewhere
# (e.g. NodeSource's nodejs, which bundles npm) must keep it: Debian's npm package conflicts with it.
if ! command -v npm >/dev/null 2>&1; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  missing+=(npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# redis-server's Debian unit starts a system instance; the tests start their own on free ports, so stop it.
systemctl disable --now redis-server >/dev/null 2>&1 || true
# Likewise docker-registry's unit (port 5000): the OCI tests start their own registries.
systemctl disable --now docker-registry >/dev/null 2>&1 || true

if ! command -v dotnet >/dev/null; then
  echo "setup.sh: the .NET 10 SDK is required (dotnet on PATH): https://learn.microsoft.com/dotnet/core/install/linux-debian" >&2
  exit 1
fi
