#!/usr/bin/env bash
# Whole-process comparison behind README "Performance": `rootfsforge extract` against the pipeline it replaces
# (qemu-img convert -O raw + mount -o loop,ro,offset=... + tar / cp -a), on the same machine, in one run.
#
# Usage (as root):  benchmarks/compare.sh [--runs N] [--images "deflate zstd raw"] [--no-dir] [--no-tar] [--no-double] [--no-build]
#                                         [--name NAME]   (report as results/NAME.md, default latest)
#
# For each image (the cached Debian 12 disk from tools/make-debian-image.sh: deflate qcow2, zstd qcow2, raw) it does one
# warm-up round and N measured rounds (default 5); in each round every variant runs once, and the order of the variants
# rotates from round to round (alternating runs). The image file is read once with `cat` before every round so the
# page cache is warm for both sides. Variants:
#   tar group:  rootfsforge  `rootfsforge extract IMG -o - | wc -c`
#               pipeline     `qemu-img convert -O raw IMG tmp.raw` (qcow2 only) + `mount -o loop,ro,offset=,sizelimit=`
#                            of the root partition + `tar -cf - . | wc -c` + umount + rm tmp.raw
#               convert      `qemu-img convert -O raw IMG tmp.raw` alone (qcow2 only; rm not timed)
#   dir group:  rootfsforge  `rootfsforge extract IMG -o DIR`
#               pipeline     convert + loop mount + `cp -a MNT/. DIR` + umount + rm tmp.raw
#               debugfs      `debugfs -R 'rdump / DIR'` on an already converted raw disk (conversion not timed)
# Tar output goes through `| wc -c`, never straight to /dev/null: GNU tar notices an archive on /dev/null and then skips
# reading file contents, which would measure nothing. Both sides get the same pipe. Output directories are set aside and
# `sync`ed between runs (not timed), and deleted once per image followed by a BENCH_SETTLE (default 65) second pause:
# ext4 without a journal skips recently deleted inodes slowly (see settle() below). Disk space: ~15 GB per image.
# Wall time is measured with date +%s%N; user/sys/peak RSS with /usr/bin/time
# (for the pipelines: all processes of the pipeline; the kernel's loop worker threads are not counted).
# Finally rootfsforge runs once (after a warm-up) on debian12x2.* (the tree twice) to show peak RSS does not grow.
#
# Writes benchmarks/results/latest.md (Markdown table for the README) and benchmarks/results/latest-runs.tsv (every run).
# Environment: ROOTFSFORGE_CACHE (default /var/cache/rootfsforge), BENCH_TMP (where tmp.raw, mounts and output
# directories go; default /var/tmp, i.e. a real disk like a CI runner's).
set -euo pipefail

die() { echo "compare.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (it loop-mounts the images and extracts as root); try: sudo $0"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${ROOTFSFORGE_CACHE:-/var/cache/rootfsforge}
RUNS=5
IMAGES="deflate zstd raw"
DO_DIR=1
DO_TAR=1
DO_DOUBLE=1
DO_BUILD=1
NAME=latest
SETTLE=${BENCH_SETTLE:-65}
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --images) IMAGES=$2; shift 2 ;;
    --no-dir) DO_DIR=0; shift ;;
    --no-tar) DO_TAR=0; shift ;;
    --no-double) DO_DOUBLE=0; shift ;;
    --no-build) DO_BUILD=0; shift ;;
    --name) NAME=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive number"

for tool in qemu-img mount umount tar debugfs partx /usr/bin/time python3 dotnet findmnt; do
  command -v "$tool" >/dev/null || die "missing $tool (Debian: qemu-utils, mount, tar, e2fsprogs, util-linux, time, python3)"
done

image_path() { # deflate|zstd|raw [prefix]
  local base=${2:-debian12}
  case $1 in
    deflate) echo "$CACHE/$base-deflate.qcow2" ;;
    zstd) echo "$CACHE/$base-zstd.qcow2" ;;
    raw) echo "$CACHE/$base.raw" ;;
    *) die "unknown image kind $1 (deflate, zstd, raw)" ;;
  esac
}
for kind in $IMAGES; do
  [ -f "$(image_path "$kind")" ] || die "$(image_path "$kind") is missing: run tools/make-debian-image.sh first"
done

WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/rootfsforge-compare.XXXXXX")
export WORK
cleanup() {
  local m
  # Innermost first; a busy mount (interrupted tar) is detached lazily rather than left behind.
  for m in $(findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r); do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/mnt"

RESULTS_DIR=$REPO/benchmarks/results
mkdir -p "$RESULTS_DIR"
RUNS_TSV=$WORK/runs.tsv
printf 'image\tgroup\tvariant\tround\twall_ms\tuser_s\tsys_s\tmaxrss_kb\tbytes\n' > "$RUNS_TSV"

# --- the rootfsforge CLI --------------------------------------------------------------------------------------------
CLI_DLL=$REPO/src/RootfsForge.Cli/bin/Release/net10.0/rootfsforge.dll
CLI_NOTE=""
if [ $DO_BUILD = 1 ]; then
  echo "building the CLI (Release)..." >&2
  dotnet build -c Release -nologo -v q "$REPO/src/RootfsForge.Cli/RootfsForge.Cli.csproj" >"$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log" >&2; die "dotnet build -c Release of the CLI failed"; }
fi
HAVE_CLI=0
# (Checks the command list: System.CommandLine exits 0 on `unknown --help` too.)
if [ -f "$CLI_DLL" ] && dotnet "$CLI_DLL" --help 2>/dev/null | grep -E '^ +extract( |$)' >/dev/null; then HAVE_CLI=1; else
  echo "compare.sh: 'rootfsforge extract' is not available in this build; measuring the reference pipelines only" >&2
fi
export CLI_DLL DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# --- the variants (run through bash -c so /usr/bin/time sees the whole pipeline) ------------------------------------
# root_partition RAW -> "START_SECTOR SECTORS" of the partition named cloudimg-rootfs (else the largest one).
root_partition() {
  partx -g -o START,SECTORS,NAME "$1" | awk '
    $3 == "cloudimg-rootfs" { print $1, $2; found = 1; exit }
    $2 > best { best = $2; line = $1 " " $2 }
    END { if (!found && line != "") print line }'
}
# to_raw IMG -> path of a raw disk with IMG's content (converts qcow2 into $WORK/tmp.raw).
to_raw() {
  case $1 in
    *.raw) echo "$1" ;;
    *) qemu-img convert -O raw "$1" "$WORK/tmp.raw" && echo "$WORK/tmp.raw" ;;
  esac
}
mount_root() { # RAW
  local start sectors
  read -r start sectors < <(root_partition "$1")
  [ -n "${sectors:-}" ] || { echo "no root partition in $1" >&2; return 1; }
  mount -t ext4 -o loop,ro,offset=$((start * 512)),sizelimit=$((sectors * 512)) "$1" "$WORK/mnt"
}
# rootfsforge's stderr (summary line) goes to rf.err; shown when it fails.
rf_tar() { dotnet "$CLI_DLL" extract "$1" -o - 2>"$WORK/rf.err" | wc -c > "$WORK/bytes"; }
rf_dir() { dotnet "$CLI_DLL" extract "$1" -o "$WORK/out" 2>"$WORK/rf.err"; }
pipe_tar() {
  local raw; raw=$(to_raw "$1")
  mount_root "$raw"
  (cd "$WORK/mnt" && tar -cf - .) | wc -c > "$WORK/bytes"
  umount "$WORK/mnt"
  rm -f "$WORK/tmp.raw"
}
pipe_cp() {
  local raw; raw=$(to_raw "$1")
  mount_root "$raw"
  mkdir "$WORK/out"
  cp -a "$WORK/mnt/." "$WORK/out/"
  umount "$WORK/mnt"
  rm -f "$WORK/tmp.raw"
}
convert_only() { qemu-img convert -O raw "$1" "$WORK/tmp.raw"; }
debugfs_rdump() { # RAW (already converted)
  local start sectors
  read -r start sectors < <(root_partition "$1")
  mkdir "$WORK/out"
  debugfs -R "rdump / $WORK/out" "$1?offset=$((start * 512))" >/dev/null 2>"$WORK/debugfs.err"
}
# Not timed, once per image: does rootfsforge's tar list as many entries as the kernel's mount holds?
entry_check() {
  local raw n_rf n_mount
  n_rf=$(dotnet "$CLI_DLL" extract "$1" -o - -q | tar -tf - | wc -l)
  raw=$(to_raw "$1"); mount_root "$raw"
  n_mount=$(cd "$WORK/mnt" && find . | wc -l)
  umount "$WORK/mnt"; rm -f "$WORK/tmp.raw"
  echo "rootfsforge's tar lists $n_rf entries, the loop mount holds $n_mount (find .)"
}
export -f entry_check root_partition to_raw mount_root rf_tar rf_dir pipe_tar pipe_cp convert_only debugfs_rdump

# measure IMAGE_LABEL GROUP VARIANT ROUND FUNCTION ARG: runs FUNCTION ARG, appends one line to runs.tsv (round 0 = warm-up).
measure() {
  local label=$1 group=$2 variant=$3 round=$4 fn=$5 arg=$6 t0 t1 u s m
  rm -f "$WORK/bytes"
  t0=$(date +%s%N)
  if ! /usr/bin/time -f '%U %S %M' -o "$WORK/time.out" bash -c "set -eo pipefail; $fn \"\$1\"" _ "$arg" </dev/null; then
    cat "$WORK/time.out" "$WORK/debugfs.err" "$WORK/rf.err" 2>/dev/null >&2 || true
    die "$variant ($group) failed on $label"
  fi
  t1=$(date +%s%N)
  read -r u s m < <(tail -n 1 "$WORK/time.out")
  printf '%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n' "$label" "$group" "$variant" "$round" $(( (t1 - t0) / 1000000 )) \
    "$u" "$s" "$m" "$(cat "$WORK/bytes" 2>/dev/null || echo -)" >> "$RUNS_TSV"
  printf '  %-8s %-4s %-12s round %d: %6d ms\n' "$label" "$group" "$variant" "$round" $(( (t1 - t0) / 1000000 )) >&2
  # Not timed: set the output aside (deleted once per image, see settle) and flush written directories so their
  # writeback does not land in someone else's measurement.
  if [ -e "$WORK/out" ]; then mkdir -p "$WORK/trash"; mv "$WORK/out" "$WORK/trash/$label-$variant-$round"; sync; fi
  rm -f "$WORK/tmp.raw"
}

# settle: deletes the set-aside outputs, then waits out ext4's inode-reuse delay. ext4 without a journal (this machine's
# root filesystem) will not reuse an inode deleted in the last 60 s (fs/ext4/ialloc.c, recently_deleted(): RECENTCY_MIN,
# 300 s while the inode table block is dirty), and checking that reads the inode table for every skipped inode: right
# after `rm -rf` of 19,000 files each file creation scans them, which added seconds of system time to whatever
# extraction ran next (rootfsforge, cp -a and debugfs alike) and measured the previous run's deletion instead.
settle() {
  if [ -e "$WORK/trash" ]; then rm -rf "$WORK/trash"; fi
  sync
  if [ "$SETTLE" -gt 0 ]; then echo "  (waiting ${SETTLE}s for ext4's inode-reuse delay)" >&2; sleep "$SETTLE"; fi
}

# rotate ROUND WORDS...: the words rotated left by ROUND.
rotate() { local r=$1; shift; local a=("$@") n=$#; local i; for ((i = 0; i < n; i++)); do echo "${a[$(( (i + r) % n ))]}"; done; }

[ $DO_DIR = 1 ] && settle
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for kind in $IMAGES; do
  img=$(image_path "$kind")
  echo "== $kind: $img" >&2
  raw_for_debugfs=$img
  if [ $DO_DIR = 1 ] && [ "$kind" != raw ]; then
    qemu-img convert -O raw "$img" "$WORK/debugfs.raw"; raw_for_debugfs=$WORK/debugfs.raw
  fi
  variants=()
  if [ $DO_TAR = 1 ]; then
    [ $HAVE_CLI = 1 ] && variants+=("tar rootfsforge rf_tar")
    variants+=("tar pipeline pipe_tar")
    [ "$kind" != raw ] && variants+=("tar convert convert_only")
  fi
  if [ $DO_DIR = 1 ]; then
    [ $HAVE_CLI = 1 ] && variants+=("dir rootfsforge rf_dir")
    variants+=("dir pipeline pipe_cp" "dir debugfs debugfs_rdump")
  fi
  for ((round = 0; round <= RUNS; round++)); do
    cat "$img" > /dev/null
    [ "$raw_for_debugfs" != "$img" ] && cat "$raw_for_debugfs" > /dev/null
    while read -r group variant fn; do
      arg=$img; [ "$fn" = debugfs_rdump ] && arg=$raw_for_debugfs
      measure "$kind" "$group" "$variant" "$round" "$fn" "$arg"
    done < <(rotate "$round" "${variants[@]}")
  done
  rm -f "$WORK/debugfs.raw"
  [ $DO_DIR = 1 ] && settle
  if [ $HAVE_CLI = 1 ]; then
    check=$(bash -c 'set -eo pipefail; entry_check "$1"' _ "$img" </dev/null) || check="entry check failed"
    printf 'entries (%s)\t%s\n' "$kind" "$check" >> "$WORK/checks.tsv"
  fi
done

if [ $DO_DOUBLE = 1 ] && [ $HAVE_CLI = 1 ]; then
  for kind in $IMAGES; do
    img=$(image_path "$kind" debian12x2)
    if [ ! -f "$img" ]; then echo "compare.sh: $img missing (tools/make-debian-image.sh --double); no scaling check" >&2; continue; fi
    echo "== x2 $kind: $img" >&2
    cat "$img" > /dev/null
    measure "x2-$kind" tar rootfsforge 0 rf_tar "$img"
    measure "x2-$kind" tar rootfsforge 1 rf_tar "$img"
  done
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -----------------------------------------------------------------------------------------------------------
FACTS=$WORK/facts.tsv
{
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
  printf 'cpu\t%s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  printf 'cores (nproc)\t%s\n' "$(nproc)"
  printf 'ram\t%s\n' "$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
  printf 'kernel\t%s\n' "$(uname -r)"
  printf 'load average (1/5/15 min) before / after\t%s / %s\n' "$LOAD_BEFORE" "$LOAD_AFTER"
  printf 'dotnet\t%s\n' "$(dotnet --version)"
  printf 'qemu-img\t%s\n' "$(qemu-img --version | head -n1)"
  printf 'tar\t%s\n' "$(tar --version | head -n1)"
  printf 'runs\t%s measured (median), 1 warm-up, alternating order\n' "$RUNS"
  printf 'rootfsforge\t%s\n' "$([ $HAVE_CLI = 1 ] && echo "$(git -C "$REPO" log -1 --format='%h %s') $CLI_NOTE" || echo 'extract not available: reference pipelines only')"
  if [ -f "$WORK/checks.tsv" ]; then cat "$WORK/checks.tsv"; fi
} > "$FACTS"
cp "$RUNS_TSV" "$RESULTS_DIR/$NAME-runs.tsv"
python3 "$REPO/benchmarks/compare_report.py" "$FACTS" "$RUNS_TSV" "$RESULTS_DIR/$NAME.md"
echo "written: $RESULTS_DIR/$NAME.md, $RESULTS_DIR/$NAME-runs.tsv" >&2
