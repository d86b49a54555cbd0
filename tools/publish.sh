#!/usr/bin/env bash
# Publishes rootfsforge for Linux into artifacts/ (what CI runners download, and the NuGet packages):
#
#   artifacts/linux-x64/rootfsforge     Native AOT executable, self-contained (no .NET needed on the machine), with
#   artifacts/linux-x64/lib*.so         the two native libraries it loads from its own folder: libe_sqlite3.so (.fl
#                                       files) and libsodium.so (BLAKE2b). Keep the three files together.
#   artifacts/linux-arm64/...           the same for arm64, cross-compiled here (clang + Debian's aarch64 toolchain)
#   artifacts/rootfsforge-VERSION-RID.tar.gz   each folder as one download
#   artifacts/packages/                 rootfsforge (the .NET tool: `dotnet tool install -g rootfsforge`) and its
#                                       per-platform packages rootfsforge.linux-x64/-arm64; RootfsForge.Formats/.Core/
#                                       .Build with their .snupkg symbols
#
# Usage (as root on Debian 12, for the packages it installs):
#   tools/publish.sh [--rid linux-x64] [--rid linux-arm64] [--no-packages] [--version-suffix S]
# Default: both RIDs and the packages. Native AOT takes a few minutes per RID on 2 cores.
set -euo pipefail

die() { echo "publish.sh: $*" >&2; exit 1; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$REPO/artifacts
RIDS=()
PACKAGES=1
SUFFIX=
while [ $# -gt 0 ]; do
  case $1 in
    --rid) RIDS+=("$2"); shift 2 ;;
    --no-packages) PACKAGES=0; shift ;;
    --version-suffix) SUFFIX=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ ${#RIDS[@]} -gt 0 ] || RIDS=(linux-x64 linux-arm64)
command -v dotnet >/dev/null || die "needs the .NET 10 SDK (dotnet on PATH)"

HOST_RID=linux-$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')

# Native AOT links with clang; a cross build also needs the target's C library, libgcc and binutils.
need=(clang)
for rid in "${RIDS[@]}"; do
  case $rid in
    "$HOST_RID") ;;
    linux-arm64) need+=(gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross) ;;
    linux-x64) need+=(gcc-x86-64-linux-gnu binutils-x86-64-linux-gnu libc6-dev-amd64-cross) ;;
    *) die "unsupported RID $rid (linux-x64, linux-arm64)" ;;
  esac
done
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (run as root, or apt-get install them)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

common=(-c Release -nologo -v q --disable-build-servers)
[ -n "$SUFFIX" ] && common+=("-p:VersionSuffix=$SUFFIX")
mkdir -p "$OUT"

cross_properties() { # the ILCompiler properties for a RID that is not the host's
  case $1 in
    "$HOST_RID") ;;
    # clang targets aarch64-linux-gnu by itself (from the RID) and finds Debian's cross sysroot; the host's objcopy
    # cannot strip an arm64 ELF, the cross binutils' can.
    linux-arm64) echo "-p:ObjCopyName=aarch64-linux-gnu-objcopy" ;;
    linux-x64) echo "-p:ObjCopyName=x86_64-linux-gnu-objcopy" ;;
  esac
}

for rid in "${RIDS[@]}"; do
  echo "publish.sh: $rid (Native AOT)"
  rm -rf "${OUT:?}/$rid"
  # shellcheck disable=SC2046
  nice dotnet publish "$REPO/src/RootfsForge.Cli" "${common[@]}" -r "$rid" -o "$OUT/$rid" $(cross_properties "$rid")
  if [ "$rid" = "$HOST_RID" ]; then
    "$OUT/$rid/rootfsforge" --version >/dev/null || die "$rid: the published rootfsforge does not run"
  fi
  version=$(sed -n 's:.*<VersionPrefix>\(.*\)</VersionPrefix>.*:\1:p' "$REPO/Directory.Build.props")${SUFFIX:+-$SUFFIX}
  tar -C "$OUT/$rid" --owner=0 --group=0 --numeric-owner -czf "$OUT/rootfsforge-$version-$rid.tar.gz" .
done

if [ $PACKAGES = 1 ]; then
  echo "publish.sh: NuGet packages"
  rm -rf "$OUT/packages"
  for project in RootfsForge.Formats RootfsForge.Core RootfsForge.Build RootfsForge.Cli; do
    nice dotnet pack "$REPO/src/$project" "${common[@]}" -o "$OUT/packages"
  done
  # The tool's per-platform packages (Native AOT cannot be packed for every RID in one go).
  for rid in "${RIDS[@]}"; do
    # shellcheck disable=SC2046
    nice dotnet pack "$REPO/src/RootfsForge.Cli" "${common[@]}" -r "$rid" -o "$OUT/packages" $(cross_properties "$rid")
  done
fi

echo "publish.sh: done"
ls -l "$OUT" "${RIDS[@]/#/$OUT/}" | sed 's/^/  /'
