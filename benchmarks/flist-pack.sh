#!/usr/bin/env bash
# Whole-process benchmark behind README "Packing a `.fl`": `rootfsforge fl pack TREE -o X.fl --store dir://STORE` against
# `tar -czf` of the same tree (what the hand-made process uploads to the hub today), on the same machine, in one run.
#
# Usage (as root):  benchmarks/flist-pack.sh [--runs N] [--tree DIR] [--no-build] [--name NAME] [--cli PATH] [--no-tar]
#
# TREE defaults to the Debian 12 cloud-like rootfs that tools/make-debian-image.sh caches (debian12-rootfs). One warm-up
# round, then N measured rounds (default 5) alternating the order of the variants; the tree is read once (tar to
# /dev/null is skipped by GNU tar, so through `wc -c`) before every round so the page cache is warm for both sides.
# Variants:
#   fl-new     `rootfsforge fl pack TREE -o X.fl --store dir://STORE` into an empty store, with an empty block index
#              (every block is new: hashed, compressed, encrypted, stored)
#   fl-repack  the same again, into the store fl-new filled, with the block index fl-new filled (what a nightly rebuild
#              of an unchanged tree does: every chunk only hashed, its id found in the index, its block found in the store)
#   fl-noindex the same repack with an empty block index (every chunk hashed, compressed and encrypted to find its id)
#   tar-gz     `tar -czf - -C TREE . | wc -c` (left out with --no-tar)
# Each round's packs use a block index of their own (XDG_CACHE_HOME under the work folder), so runs do not share one.
# --cli PATH measures another build of the command, e.g. the Native AOT one from tools/publish.sh
# (artifacts/linux-x64/rootfsforge); the default is the framework-dependent build (JIT) of this checkout.
# Throughput is the tree's regular-file data (each inode once) over the median wall time. The store and the .fl are
# written to BENCH_TMP (default /var/tmp), set aside and `sync`ed between runs (not timed), and deleted at the end; the
# run starts with a BENCH_SETTLE (default 65) second pause (see fl_new).
# Writes benchmarks/results/NAME.md (default flist-pack) and NAME-runs.tsv.
set -euo pipefail

die() { echo "flist-pack.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (the tree holds root-only files); try: sudo $0"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${ROOTFSFORGE_CACHE:-/var/cache/rootfsforge}
TREE=$CACHE/debian12-rootfs
RUNS=5
DO_BUILD=1
NAME=flist-pack
CLI_ARG=
DO_TAR=1
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --tree) TREE=$2; shift 2 ;;
    --no-build) DO_BUILD=0; shift ;;
    --name) NAME=$2; shift 2 ;;
    --cli) CLI_ARG=$2; shift 2 ;;
    --no-tar) DO_TAR=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive number"
[ -d "$TREE" ] || die "no tree at $TREE (run tools/make-debian-image.sh, or pass --tree DIR)"
for tool in tar gzip /usr/bin/time python3 dotnet; do command -v "$tool" >/dev/null || die "missing $tool"; done

if [ -n "$CLI_ARG" ]; then
  CLI=$(realpath "$CLI_ARG")
  [ -x "$CLI" ] || die "--cli $CLI_ARG is not an executable"
else
  if [ $DO_BUILD = 1 ]; then dotnet build "$REPO/src/RootfsForge.Cli" -c Release -nologo -v q >/dev/null; fi
  CLI=$REPO/src/RootfsForge.Cli/bin/Release/net10.0/rootfsforge
  [ -x "$CLI" ] || die "no built command at $CLI (drop --no-build)"
fi

WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/rootfsforge-flbench.XXXXXX")
trap 'rm -rf "$WORK"; sync' EXIT
RUNS_TSV=$WORK/runs.tsv
: >"$RUNS_TSV"

DATA=$(find "$TREE" -type f -printf '%i %s\n' | sort -u -k1,1 | awk '{s += $2} END {print s}')
FILES=$(find "$TREE" -type f | wc -l)

# run VARIANT ROUND CMD...: times CMD with /usr/bin/time; appends "variant round wall user sys maxrss_kb".
run() {
  local variant=$1 round=$2; shift 2
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f '%U %S %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr" >&2; die "$variant failed"; }
  t1=$(date +%s%N)
  read -r user sys rss <"$WORK/time"
  [ "$round" = warm ] || printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$round" "$(( (t1 - t0) / 1000000 ))" "$user" "$sys" "$rss" >>"$RUNS_TSV"
}

# Stores are set aside, not deleted, between runs: ext4 without a journal skips inodes deleted in the last 60 s slowly
# (fs/ext4/ialloc.c recently_deleted()), which would charge one run's deletion to the next run's block files
# (see compare.sh). They are deleted at the end.
fl_new() {
  export XDG_CACHE_HOME=$WORK/index-$1
  run fl-new "$1" "$CLI" fl pack "$TREE" -o "$WORK/x.fl" --store "dir://$WORK/store" --quiet
  stored=$(du -sb "$WORK/store" | cut -f1)
  mv "$WORK/x.fl" "$WORK/trash/$1.fl"; sync
  run fl-repack "$1" "$CLI" fl pack "$TREE" -o "$WORK/x.fl" --store "dir://$WORK/store" --quiet
  cmp -s "$WORK/x.fl" "$WORK/trash/$1.fl" || die "the repack's .fl differs from the first pack's"
  mv "$WORK/x.fl" "$WORK/trash/$1-repack.fl"; sync
  export XDG_CACHE_HOME=$WORK/index-$1-empty
  run fl-noindex "$1" "$CLI" fl pack "$TREE" -o "$WORK/x.fl" --store "dir://$WORK/store" --quiet
  mv "$WORK/store" "$WORK/trash/store-$1"; mv "$WORK/x.fl" "$WORK/trash/$1-noindex.fl"; sync
  unset XDG_CACHE_HOME
}
tar_gz() { [ $DO_TAR = 1 ] || return 0; run tar-gz "$1" sh -c 'tar -czf - -C "$1" . | wc -c' sh "$TREE"; }

stored=0
mkdir "$WORK/trash"
sync; sleep "${BENCH_SETTLE:-65}" # earlier deletions (see fl_new)
LOAD_START=$(uptime | sed 's/.*load average: //')
for round in warm $(seq 1 "$RUNS"); do
  tar -cf - -C "$TREE" . | wc -c >/dev/null
  if [ "$round" = warm ] || [ $((round % 2)) = 1 ]; then fl_new "$round"; tar_gz "$round"; else tar_gz "$round"; fl_new "$round"; fi
done
GZ=0; if [ $DO_TAR = 1 ]; then GZ=$(tar -czf - -C "$TREE" . | wc -c); fi
LOAD_BEFORE=$LOAD_START

mkdir -p "$REPO/benchmarks/results"
cp "$RUNS_TSV" "$REPO/benchmarks/results/$NAME-runs.tsv"
python3 - "$RUNS_TSV" "$DATA" "$FILES" "$stored" "$GZ" "$(nproc)" "$(git -C "$REPO" log -1 --format='%h %s' | cut -c1-100)" \
  "$(uptime | sed 's/.*load average: //')" "$TREE" "$LOAD_BEFORE" "$CLI" >"$REPO/benchmarks/results/$NAME.md" <<'PY'
import statistics, sys, datetime, platform
runs, data, files, stored, gz, cores, commit, load, tree, load_before, cli = sys.argv[1:]
data, stored, gz = int(data), int(stored), int(gz)
rows = {}
for line in open(runs):
    v, r, wall, user, sys_, rss = line.split("\t")
    rows.setdefault(v, []).append((int(wall) / 1000, float(user) + float(sys_), int(rss) // 1024))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print("# Packing a tree into a `.fl` + `dir://` store" + (" vs. `tar -czf`" if "tar-gz" in rows else "") + "\n")
print(f"- date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; machine: {cpu}, {cores} cores, kernel {platform.release()}; "
      f"load average before: {load_before}; after: {load}")
print(f"- rootfsforge: {commit}; command: `{cli}`")
print(f"- tree: `{tree}`: {files} regular files, {data / 1e6:.0f} MB of file data (each inode once)")
print(f"- sizes: `.fl` blocks in the store {stored / 1e6:.0f} MB (both layouts, hard-linked)" + (f"; tar.gz {gz / 1e6:.0f} MB" if gz else ""))
print(f"- median of {len(rows['fl-new'])} alternating runs after a warm-up, page cache warm\n")
print("| variant | median wall | min | max | file data / wall | CPU (user+sys) | CPU/wall | peak RSS |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
names = {"fl-new": "`fl pack` into an empty `dir://` store, empty block index",
         "fl-repack": "repack with block index (every chunk known, every block present)",
         "fl-noindex": "repack without block index (every block present)",
         "tar-gz": "`tar -czf - . \\| wc -c`"}
for v in (v for v in names if v in rows):
    w = statistics.median(x[0] for x in rows[v]); c = statistics.median(x[1] for x in rows[v])  # CPU: median of its own
    print(f"| {names[v]} | {w:.2f} s | {min(x[0] for x in rows[v]):.2f} s | {max(x[0] for x in rows[v]):.2f} s | "
          f"{data / 1e6 / w:.0f} MB/s | {c:.2f} s | {c / w:.2f} | {max(x[2] for x in rows[v])} MB |")
fl = statistics.median(x[0] for x in rows["fl-new"])
if "tar-gz" in rows:
    tg = statistics.median(x[0] for x in rows["tar-gz"])
    print(f"\n`fl pack` / `tar -czf`: {fl / tg:.2f} (target: < 1, and ≥ 150 MB/s of file data)")
rp = statistics.median(x[0] for x in rows["fl-repack"])
rc = statistics.median(x[1] for x in rows["fl-repack"])
print(f"\nrepack with block index: {data / 1e6 / rp:.0f} MB/s of file data (target ≥ 500 MB/s), {fl / rp:.1f}x the first pack; "
      f"its CPU time ({rc:.2f} s) spread over all {cores} cores would allow at most {data / 1e6 / (rc / int(cores)):.0f} MB/s "
      f"(a bound for an idle machine, not a measurement)")
PY
cat "$REPO/benchmarks/results/$NAME.md"
