#!/usr/bin/env bash
# Start-up of the rootfsforge command: `rootfsforge --help` and `rootfsforge ls IMG /etc` of a small ext4 image
# (8 MiB, ~300 entries, made with `mke2fs -d`), timed by hyperfine for each build given.
#
# Usage:  benchmarks/startup.sh [--runs N] [--name NAME] [LABEL=PATH ...]
#   LABEL=PATH   a rootfsforge executable to time, e.g. jit=src/RootfsForge.Cli/bin/Release/net10.0/rootfsforge.
#                Without any, it times every one of these that exists:
#                  jit       src/RootfsForge.Cli/bin/Release/net10.0/rootfsforge   (framework-dependent, `dotnet build`)
#                  aot       artifacts/linux-x64/rootfsforge                       (tools/publish.sh)
#   --runs N     measured runs per command (default 50), after 5 warm-up runs
#   --name NAME  report as benchmarks/results/NAME.md (default startup)
#
# Reported per build and command: median wall time, mean user and system CPU (hyperfine's), min and max. Start-up is
# measured as whole processes, never inside a unit test. The machine is shared: the median of many runs, with the CPU
# columns beside it, is the figure to read.
set -euo pipefail

die() { echo "startup.sh: $*" >&2; exit 1; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=50
NAME=startup
BUILDS=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *=*) BUILDS+=("$1"); shift ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive number"
for tool in hyperfine mke2fs python3; do command -v $tool >/dev/null || die "needs $tool (tools/setup.sh installs it)"; done
if [ ${#BUILDS[@]} -eq 0 ]; then
  [ -x "$REPO/src/RootfsForge.Cli/bin/Release/net10.0/rootfsforge" ] && BUILDS+=("jit=$REPO/src/RootfsForge.Cli/bin/Release/net10.0/rootfsforge")
  [ -x "$REPO/artifacts/linux-x64/rootfsforge" ] && BUILDS+=("aot=$REPO/artifacts/linux-x64/rootfsforge")
  [ ${#BUILDS[@]} -gt 0 ] || die "no build found: run 'dotnet build src/RootfsForge.Cli -c Release' or tools/publish.sh"
fi

WORK=$(mktemp -d /tmp/rootfsforge-startup.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# The small image: a few directories of small files, the shape of a tiny rootfs.
TREE=$WORK/tree
mkdir -p "$TREE"/{etc,bin,usr/lib,var/log}
for i in $(seq 1 100); do printf 'line %d\n' "$i" >"$TREE/etc/file$i.conf"; done
for i in $(seq 1 100); do head -c 4096 /dev/zero | tr '\0' 'x' >"$TREE/usr/lib/lib$i.so"; done
printf 'ID=debian\nVERSION_ID="12"\n' >"$TREE/etc/os-release"
ln -s ../usr/lib/lib1.so "$TREE/bin/sh"
IMG=$WORK/small.img
mke2fs -q -t ext4 -d "$TREE" "$IMG" 8M
ENTRIES=$(find "$TREE" | wc -l)

ARGS=()
for b in "${BUILDS[@]}"; do
  label=${b%%=*}; path=${b#*=}
  [ -x "$path" ] || die "$label: $path is not an executable"
  "$path" --help >/dev/null || die "$label: '$path --help' failed"
  "$path" ls "$IMG" /etc >/dev/null || die "$label: '$path ls' failed"
  ARGS+=(-n "$label --help" "$path --help" -n "$label ls" "$path ls $IMG /etc")
done

mkdir -p "$REPO/benchmarks/results"
JSON=$WORK/hyperfine.json
hyperfine -N --style basic --warmup 5 --runs "$RUNS" --export-json "$JSON" "${ARGS[@]}" >"$WORK/hyperfine.log"

OUT=$REPO/benchmarks/results/$NAME.md
python3 - "$JSON" "$OUT" "$RUNS" "$ENTRIES" <<'PY'
import json, os, platform, subprocess, sys, datetime
data = json.load(open(sys.argv[1]))
runs, entries = sys.argv[3], sys.argv[4]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 1024 / 1024
load = open("/proc/loadavg").read().split()[:3]
dotnet = subprocess.run(["dotnet", "--version"], capture_output=True, text=True).stdout.strip()
lines = [
    f"# Start-up ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)", "",
    f"Machine: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, kernel {platform.release()}, .NET SDK {dotnet}; "
    f"load average {' '.join(load)} at the end. `benchmarks/startup.sh`: {runs} runs per command after 5 warm-ups "
    f"(hyperfine -N); `ls` lists /etc of an 8 MiB ext4 image made with `mke2fs -d` ({entries} entries).", "",
    "| build | command | median | user (mean) | system (mean) | min | max |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
]
ms = lambda s: f"{s * 1000:.1f} ms"
for r in data["results"]:
    label, command = r["command"].split(" ", 1)
    lines.append(f"| {label} | `rootfsforge {command}` | {ms(r['median'])} | {ms(r['user'])} | {ms(r['system'])} "
                 f"| {ms(r['min'])} | {ms(r['max'])} |")
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
