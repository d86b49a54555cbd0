#!/usr/bin/env bash
# Whole-process benchmark for container flists (issue 10 §5): `rootfsforge container docker://…` against what a
# daemon-less user does today, `skopeo copy docker://… oci:DIR` + `umoci unpack` + `tar -czf` of the rootfs, both
# pulling the same 3-layer image of the Debian 12 tree from a local docker-registry, in one run, alternating.
#
# Usage (as root):  benchmarks/container.sh [--runs N] [--tree DIR] [--no-build] [--no-double] [--name NAME]
#                                           [--prepare-only] [--rebuild-images] [--cli PATH]
# (--cli: measure this rootfsforge executable instead of building src/RootfsForge.Cli; implies --no-build)
#
# Images (built once with buildah and kept in BENCH_TMP/rootfsforge-container-bench/registry, a docker-registry
# storage folder; --rebuild-images makes them again): the tree (default: the Debian 12 rootfs tools/make-debian-image.sh
# caches) split into three tarballs — everything outside /usr, /usr/lib*, the rest of /usr — each added with
# `buildah add` onto the image of the one before and committed (vfs storage, one gzip layer per part), pushed with
# `buildah push --format oci --compression-format gzip` as bench/debian12:3layers. The 2x image (bench/debian12:x2)
# has the same three layers, each holding its part twice (the second copy under /x2), for the memory check.
#
# A docker-registry serves that folder on a free 127.0.0.1 port (plain HTTP) while the benchmark runs. One warm-up
# round, then N measured rounds (default 5); each round runs every variant once, in an order that rotates from round to
# round, after reading the registry's blobs once so the page cache is warm for both sides:
#   peer      skopeo copy docker://… oci:WORK/oci:bench; umoci unpack --image WORK/oci:bench WORK/bundle;
#             tar -czf WORK/peer.tar.gz -C WORK/bundle/rootfs .          (three processes, timed together and apart)
#   rf-tgz    rootfsforge container docker://… -o WORK/rf.tar.gz --cache WORK/cache, the blob cache deleted first (cold)
#   rf-warm   the same again with the blob cache rf-tgz left (warm): must report 0 B downloaded
#   rf-fl     rootfsforge container docker://… -o WORK/x.fl --store dir://WORK/store, cold blob cache, empty store
#             (every rootfsforge run gets a fresh XDG_CACHE_HOME, so no block index from an earlier run helps)
#   rf-fl-warm  rf-fl from a warm blob cache (rf-tgz's, or primed by an untimed-in-the-table rf-prime run): no download
#             left, the layers still decompressed, merged and packed; fresh store and block index
#   rf-x2     rf-tgz of the 2x image (cold), for peak RSS against image size
# Every run: wall (date +%s%N), user/sys and peak RSS (/usr/bin/time -v; for the peer the largest of its three
# processes), the 1-minute load average just before it, bytes downloaded (rootfsforge's last progress line). Outputs,
# caches and stores are renamed aside after each run and deleted only when the benchmark ends, and the first round waits
# BENCH_SETTLE (default 370) seconds: this root ext4 has no journal, so ext4 skips inodes freed in the last 60 s — 360 s
# once their inode-table block is dirty again, which the next run's new files make it — when it allocates new ones
# (recently_deleted() in fs/ext4/ialloc.c); a deletion between rounds charged the next runs up to a third of their time
# in inode allocation. Nothing is deleted while the rounds run, for both sides alike (about 5 GB of disk per round).
# Writes benchmarks/results/NAME.md (default container) and NAME-runs.tsv.
set -euo pipefail

die() { echo "container.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (buildah vfs storage, umoci unpack with owners); try: sudo $0"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${ROOTFSFORGE_CACHE:-/var/cache/rootfsforge}
TREE=$CACHE/debian12-rootfs
RUNS=5
DO_BUILD=1
DO_DOUBLE=1
PREPARE_ONLY=0
REBUILD=0
NAME=container
CLI=
SETTLE=${BENCH_SETTLE:-370}
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --tree) TREE=$2; shift 2 ;;
    --no-build) DO_BUILD=0; shift ;;
    --no-double) DO_DOUBLE=0; shift ;;
    --prepare-only) PREPARE_ONLY=1; shift ;;
    --rebuild-images) REBUILD=1; shift ;;
    --name) NAME=$2; shift 2 ;;
    --cli) CLI=$(realpath "$2"); DO_BUILD=0; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive number"
[ -d "$TREE" ] || die "no tree at $TREE (run tools/make-debian-image.sh, or pass --tree DIR)"
for tool in buildah skopeo umoci docker-registry tar gzip /usr/bin/time python3 dotnet; do
  command -v "$tool" >/dev/null || die "missing $tool (tools/setup.sh installs it)"
done

BENCH=${BENCH_TMP:-/var/tmp}
IMAGES=$BENCH/rootfsforge-container-bench
REPO_NAME=bench/debian12

# --- the images (built once) -------------------------------------------------------------------------------------------

# registry_start STORAGE: starts docker-registry on a free port; sets HOST and REGISTRY_PID.
registry_start() {
  local storage=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$storage"
  cat >"$IMAGES/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $storage
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: rootfsforge-bench
EOF
  docker-registry serve "$IMAGES/registry.yml" 2>>"$IMAGES/registry.log" &
  REGISTRY_PID=$!
  HOST=127.0.0.1:$port
  for _ in $(seq 1 100); do
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(f"http://{sys.argv[1]}/v2/")' "$HOST" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "docker-registry did not start (see $IMAGES/registry.log)"
}
registry_stop() { if [ -n "${REGISTRY_PID:-}" ]; then kill "$REGISTRY_PID" 2>/dev/null || true; wait "$REGISTRY_PID" 2>/dev/null || true; REGISTRY_PID=; fi; }

# part_tars DIR DOUBLE: the tree's three parts as DIR/p1.tar (outside /usr), p2.tar (/usr/lib*), p3.tar (the rest of
# /usr); with DOUBLE=1 each holds its part twice, the second copy under x2/ (hard link targets follow, symlink targets
# do not: 'S').
part_tars() {
  local dir=$1 double=$2 i
  local -a top
  mapfile -t top < <(cd "$TREE" && ls -A | grep -vx -e usr -e .complete)
  local -a args=(--numeric-owner --xattrs --xattrs-include='*' --anchored -C "$TREE")
  tar "${args[@]}" -cf "$dir/p1.tar" "${top[@]}"
  tar "${args[@]}" -cf "$dir/p2.tar" $(cd "$TREE" && ls -d usr/lib*)
  tar "${args[@]}" --exclude='usr/lib*' -cf "$dir/p3.tar" usr
  if [ "$double" = 1 ]; then
    tar "${args[@]}" --transform 's,^,x2/,S' -rf "$dir/p1.tar" "${top[@]}"
    tar "${args[@]}" --transform 's,^,x2/,S' -rf "$dir/p2.tar" $(cd "$TREE" && ls -d usr/lib*)
    tar "${args[@]}" --transform 's,^,x2/,S' --exclude='usr/lib*' -rf "$dir/p3.tar" usr
  fi
  for i in 1 2 3; do echo "  part $i: $(du -h "$dir/p$i.tar" | cut -f1)" >&2; done
}

# build_image TAG DOUBLE: three `buildah add` + `buildah commit` steps, then a push to the registry as REPO_NAME:TAG.
build_image() {
  local tag=$1 double=$2 work=$IMAGES/build c prev=
  rm -rf "$work"; mkdir -p "$work/tmp"
  local -a B=(buildah --root "$work/root" --runroot "$work/runroot" --storage-driver vfs)
  echo "building $REPO_NAME:$tag from $TREE (double=$double)" >&2
  part_tars "$work" "$double"
  for i in 1 2 3; do
    if [ -z "$prev" ]; then c=$(TMPDIR=$work/tmp "${B[@]}" from scratch); else c=$(TMPDIR=$work/tmp "${B[@]}" from --pull=never "$prev"); fi
    TMPDIR=$work/tmp "${B[@]}" add "$c" "$work/p$i.tar" / >/dev/null
    if [ "$i" = 3 ]; then
      TMPDIR=$work/tmp "${B[@]}" config --os linux --arch amd64 --entrypoint '["/bin/bash"]' --cmd '["-l"]' \
        --env LANG=C.UTF-8 --workingdir /root --label org.example.bench=debian12 "$c"
    fi
    TMPDIR=$work/tmp "${B[@]}" commit --rm "$c" "localhost/$REPO_NAME:$tag-$i" >/dev/null
    prev=localhost/$REPO_NAME:$tag-$i
  done
  TMPDIR=$work/tmp "${B[@]}" push --tls-verify=false --format oci --compression-format gzip "$prev" "docker://$HOST/$REPO_NAME:$tag" >/dev/null
  TMPDIR=$work/tmp "${B[@]}" rm --all >/dev/null 2>&1 || true
  rm -rf --one-file-system "$work"
}

mkdir -p "$IMAGES"
[ $REBUILD = 1 ] && rm -rf "$IMAGES/registry" "$IMAGES"/ready-*
trap 'registry_stop' EXIT
registry_start "$IMAGES/registry"
if [ ! -e "$IMAGES/ready-3layers" ]; then build_image 3layers 0; touch "$IMAGES/ready-3layers"; fi
if [ $DO_DOUBLE = 1 ] && [ ! -e "$IMAGES/ready-x2" ]; then build_image x2 1; touch "$IMAGES/ready-x2"; fi
REF=docker://$HOST/$REPO_NAME:3layers
REF2=docker://$HOST/$REPO_NAME:x2
skopeo inspect --raw --tls-verify=false "$REF" >"$IMAGES/manifest.json"
[ $PREPARE_ONLY = 1 ] && { echo "images ready in $IMAGES/registry" >&2; exit 0; }

# --- the runs ----------------------------------------------------------------------------------------------------------

if [ $DO_BUILD = 1 ]; then dotnet build "$REPO/src/RootfsForge.Cli" -c Release -nologo -v q >/dev/null; fi
CLI=${CLI:-$REPO/src/RootfsForge.Cli/bin/Release/net10.0/rootfsforge}
[ -x "$CLI" ] || die "no built command at $CLI (drop --no-build)"

WORK=$(mktemp -d "$BENCH/rootfsforge-ctrbench.XXXXXX")
trap 'registry_stop; rm -rf --one-file-system "$WORK"; sync' EXIT
RUNS_TSV=$WORK/runs.tsv
: >"$RUNS_TSV"
mkdir "$WORK/trash"

# timed VARIANT ROUND STAGE CMD...: runs CMD under /usr/bin/time -v; appends
# "variant round stage wall_ms user sys maxrss_kb load1 downloaded" to the runs.
timed() {
  local variant=$1 round=$2 stage=$3; shift 3
  local t0 t1 load user sys rss downloaded=-
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s%N)
  /usr/bin/time -v -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" || { tail -n 20 "$WORK/stderr" >&2; die "$variant/$stage failed"; }
  t1=$(date +%s%N)
  user=$(sed -n 's/^\tUser time (seconds): //p' "$WORK/time")
  sys=$(sed -n 's/^\tSystem time (seconds): //p' "$WORK/time")
  rss=$(sed -n 's/^\tMaximum resident set size (kbytes): //p' "$WORK/time")
  # rootfsforge's last "layers N/N, … (X downloaded)" line
  if grep -q 'downloaded)' "$WORK/stderr"; then
    downloaded=$(grep 'downloaded)' "$WORK/stderr" | tail -n 1 | sed 's/.*(\(.*\) downloaded).*/\1/' | tr -d ' ')
  fi
  [ "$round" = warm ] || printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$round" "$stage" "$(( (t1 - t0) / 1000000 ))" \
    "$user" "$sys" "$rss" "$load" "$downloaded" >>"$RUNS_TSV"
  printf '  %-8s round %-4s %-7s %7d ms  load %s  downloaded %s\n' "$variant" "$round" "$stage" $(( (t1 - t0) / 1000000 )) "$load" "$downloaded" >&2
}

aside() { local p; for p in "$@"; do if [ -e "$p" ]; then mv "$p" "$WORK/trash/$(basename "$p").$RANDOM$RANDOM"; fi; done; sync; }

peer() {
  timed peer "$1" skopeo skopeo copy --src-tls-verify=false "$REF" "oci:$WORK/oci:bench"
  timed peer "$1" umoci umoci unpack --image "$WORK/oci:bench" "$WORK/bundle"
  timed peer "$1" tar tar -czf "$WORK/peer.tar.gz" -C "$WORK/bundle/rootfs" .
  PEER_BYTES=$(stat -c %s "$WORK/peer.tar.gz")
  aside "$WORK/oci" "$WORK/bundle" "$WORK/peer.tar.gz"
}
rf() { # rf VARIANT ROUND REF OUT [ARGS…]
  local variant=$1 round=$2 ref=$3 out=$4; shift 4
  # A fresh XDG_CACHE_HOME: no block index (~/.cache/rootfsforge/block-ids) from earlier runs helps the .fl runs.
  timed "$variant" "$round" all env XDG_CACHE_HOME="$WORK/xdg" "$CLI" container "$ref" --insecure-registry "$HOST" --cache "$WORK/cache" -o "$out" "$@"
  aside "$WORK/xdg"
}
rf_tgz() { aside "$WORK/cache"; rf rf-tgz "$1" "$REF" "$WORK/rf.tar.gz"; RF_BYTES=$(stat -c %s "$WORK/rf.tar.gz"); aside "$WORK/rf.tar.gz"; }
rf_warm() { # needs the cache rf-tgz left
  [ -d "$WORK/cache" ] || rf rf-prime "$1" "$REF" "$WORK/prime.tar.gz"
  aside "$WORK/prime.tar.gz"
  rf rf-warm "$1" "$REF" "$WORK/rf.tar.gz"; aside "$WORK/rf.tar.gz" "$WORK/cache"
}
rf_fl() { aside "$WORK/cache"; rf rf-fl "$1" "$REF" "$WORK/x.fl" --store "dir://$WORK/store"; aside "$WORK/x.fl" "$WORK/store" "$WORK/cache"; }
rf_flwarm() { # the same .fl from a warm blob cache (primes its own when rf-tgz's is not there)
  [ -d "$WORK/cache" ] || rf rf-prime "$1" "$REF" "$WORK/prime.tar.gz"
  aside "$WORK/prime.tar.gz"
  rf rf-fl-warm "$1" "$REF" "$WORK/x.fl" --store "dir://$WORK/store"; aside "$WORK/x.fl" "$WORK/store" "$WORK/cache"
}
rf_x2() { aside "$WORK/cache"; rf rf-x2 "$1" "$REF2" "$WORK/x2.tar.gz"; aside "$WORK/x2.tar.gz" "$WORK/cache"; }

settle() { # once, before the first round: inodes freed before the benchmark (the image build's) age past ext4's delay
  sync
  if [ "$SETTLE" -gt 0 ]; then echo "  (waiting ${SETTLE}s for ext4's inode-reuse delay)" >&2; sleep "$SETTLE"; fi
}

# rotate ROUND WORDS...: the words rotated left by ROUND.
rotate() { local r=$1; shift; local a=("$@") n=$#; local i; for ((i = 0; i < n; i++)); do echo "${a[$(( (i + r) % n ))]}"; done; }

BLOBS=$IMAGES/registry/docker/registry/v2/blobs
VARIANTS=(peer rf_tgz rf_warm rf_fl rf_flwarm)
[ $DO_DOUBLE = 1 ] && VARIANTS+=(rf_x2)
need_kb=$(( (RUNS + 1) * 6 * 1024 * 1024 ))
avail_kb=$(df -Pk "$WORK" | awk 'NR == 2 {print $4}')
[ "$avail_kb" -ge "$need_kb" ] || die "needs about $(( need_kb / 1024 / 1024 )) GB free under $BENCH (outputs are kept until the end); $(( avail_kb / 1024 / 1024 )) GB free"
settle
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for round in warm $(seq 1 "$RUNS"); do
  echo "== round $round" >&2
  find "$BLOBS" -type f -exec cat {} + >/dev/null
  r=0; [ "$round" = warm ] || r=$round
  # rf_warm right after rf_tgz would reuse its cache; it primes its own cache when it runs first.
  for v in $(rotate "$r" "${VARIANTS[@]}"); do "$v" "$round"; done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Not timed: the file data of the image (each inode once, as the flist throughput is defined) and a sanity check that
# both sides made the same tree (entry counts of rootfsforge's tar and umoci's rootfs).
DATA=$(find "$TREE" -type f ! -name .complete -printf '%i %s\n' | sort -u -k1,1 | awk '{s += $2} END {print s}')
"$CLI" container "$REF" --insecure-registry "$HOST" --cache "$WORK/cache" -o "$WORK/check.tar" --no-startup -q
skopeo copy -q --src-tls-verify=false "$REF" "oci:$WORK/oci:bench"
umoci unpack --image "$WORK/oci:bench" "$WORK/bundle" >/dev/null
RF_ENTRIES=$(tar -tf "$WORK/check.tar" | grep -vxc './')
UMOCI_ENTRIES=$(cd "$WORK/bundle/rootfs" && find . -mindepth 1 | wc -l)
LAYERS=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" + ".join("%.0f" % (l["size"] / 1e6) for l in d["layers"]) + " MB gzip")' "$IMAGES/manifest.json")

mkdir -p "$REPO/benchmarks/results"
cp "$RUNS_TSV" "$REPO/benchmarks/results/$NAME-runs.tsv"
python3 - "$RUNS_TSV" "$DATA" "$(nproc)" "$(git -C "$REPO" log -1 --format='%h %s' | cut -c1-100)" "$LOAD_BEFORE" "$LOAD_AFTER" \
  "$TREE" "$REF" "$LAYERS" "$RF_ENTRIES" "$UMOCI_ENTRIES" "${PEER_BYTES:-0}" "${RF_BYTES:-0}" "$SETTLE" >"$REPO/benchmarks/results/$NAME.md" <<'PY'
import statistics, sys, datetime, platform, collections
(runs, data, cores, commit, load_before, load_after, tree, ref, layers, rf_entries, umoci_entries, peer_bytes, rf_bytes,
 settle) = sys.argv[1:]
data = int(data)
# variant -> round -> stage -> (wall s, cpu s, rss MB, load, downloaded)
rows = collections.defaultdict(lambda: collections.defaultdict(dict))
for line in open(runs):
    v, r, stage, wall, user, sys_, rss, load, dl = line.rstrip("\n").split("\t")
    rows[v][int(r)][stage] = (int(wall) / 1000, float(user) + float(sys_), int(rss) / 1024, float(load), dl)
def total(v, r): return sum(s[0] for s in rows[v][r].values())
def cpu(v, r): return sum(s[1] for s in rows[v][r].values())
def rss(v, r): return max(s[2] for s in rows[v][r].values())
def load(v, r): return next(iter(rows[v][r].values()))[3]
rounds = sorted(rows["peer"])
cpu_name = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print("# Container flists: `rootfsforge container` vs. `skopeo copy` + `umoci unpack` + `tar -czf`\n")
print(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {cpu_name}, {cores} cores, kernel {platform.release()}; "
      f"load average (1/5/15 min) before: {load_before}, after: {load_after}")
print(f"- rootfsforge: {commit}")
print(f"- image: `{ref}` — `{tree}` as 3 gzip layers ({layers}), {data / 1e6:.0f} MB of file data (each inode once); "
      f"pulled from a local docker-registry over loopback HTTP")
print(f"- same tree on both sides: rootfsforge's tar holds {rf_entries} entries, umoci's rootfs {umoci_entries}; tar.gz sizes: peer {int(peer_bytes) / 1e6:.0f} MB, rootfsforge {int(rf_bytes) / 1e6:.0f} MB")
print(f"- median of {len(rounds)} rounds after a warm-up; each round runs every variant once in a rotating order, page cache "
      f"warm for the registry's blobs; outputs kept until the end (nothing deleted while the rounds run), one {settle} s "
      f"pause before the first round (ext4's inode-reuse delay)\n")
print("| variant | median wall | min | max | CPU (user+sys) | peak RSS (max) | downloaded | file data / wall |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
names = {
    "peer": "peer: `skopeo copy` + `umoci unpack` + `tar -czf`",
    "rf-tgz": "`rootfsforge container … -o X.tar.gz`, cold blob cache",
    "rf-warm": "the same, warm blob cache",
    "rf-fl": "`rootfsforge container … -o X.fl --store dir://…`, cold cache",
    "rf-fl-warm": "the same `.fl`, warm blob cache",
    "rf-x2": "`… -o X.tar.gz` of the 2x image, cold cache",
}
for v in ("peer", "rf-tgz", "rf-warm", "rf-fl", "rf-fl-warm", "rf-x2"):
    if v not in rows: continue
    rs = sorted(rows[v]); walls = [total(v, r) for r in rs]
    w = statistics.median(walls)
    dls = sorted({s[4] for r in rs for s in rows[v][r].values()} - {"-"})
    per = f"{data / 1e6 / w:.0f} MB/s" if v in ("rf-fl", "rf-fl-warm", "rf-tgz", "rf-warm") else (f"{2 * data / 1e6 / w:.0f} MB/s" if v == "rf-x2" else "")
    print(f"| {names[v]} | {w:.1f} s | {min(walls):.1f} s | {max(walls):.1f} s | {statistics.median(cpu(v, r) for r in rs):.1f} s | "
          f"{max(rss(v, r) for r in rs):.0f} MB | {', '.join(dls) or '-'} | {per} |")
if "peer" in rows:
    print("\nPeer stages (median wall): " + ", ".join(
        f"{st} {statistics.median(rows['peer'][r][st][0] for r in rounds):.1f} s" for st in ("skopeo", "umoci", "tar")))
print("\nPair by pair (each round: the two runs of that round, with the 1-minute load average before each):\n")
print("| round | peer | load | rf-tgz | load | rf-tgz / peer | rf-fl | load | rf-fl MB/s | rf-fl-warm MB/s | rf-warm | downloaded | rf-x2 | RSS tgz / x2 |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
ratios = []
for r in rounds:
    p, t = total("peer", r), total("rf-tgz", r)
    ratios.append(t / p)
    fl = total("rf-fl", r)
    x2 = f"{total('rf-x2', r):.1f} s" if "rf-x2" in rows else "-"
    rx = f"{rss('rf-tgz', r):.0f} / {rss('rf-x2', r):.0f} MB" if "rf-x2" in rows else f"{rss('rf-tgz', r):.0f} MB"
    dl = rows["rf-warm"][r]["all"][4]
    print(f"| {r} | {p:.1f} s | {load('peer', r):.1f} | {t:.1f} s | {load('rf-tgz', r):.1f} | {t / p:.2f} | {fl:.1f} s | "
          f"{load('rf-fl', r):.1f} | {data / 1e6 / fl:.0f} | {data / 1e6 / total('rf-fl-warm', r):.0f} | {total('rf-warm', r):.1f} s | {dl} | {x2} | {rx} |")
print(f"\nrf-tgz / peer, median of the pairs: {statistics.median(ratios):.2f} (target ≤ 0.5); "
      f"`.fl` throughput target ≥ 150 MB/s; warm cache: 0 B downloaded; peak RSS target ≤ 300 MB, not growing with the image.")
PY
cat "$REPO/benchmarks/results/$NAME.md"
