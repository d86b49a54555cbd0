#!/usr/bin/env bash
# Makes the base images the container definitions in images/ start from, without Docker Hub, and serves them from a
# local registry (Debian's docker-registry), printing the pinned reference of each:
#   busybox    images/busybox.yaml: busybox-static's /bin/busybox and its applet links, made with
#              `buildah from scratch` (as the OCI tests make their base). Reproducible: the same busybox-static and
#              buildah give the same digest, so the digest pinned in images/busybox.yaml holds on any Debian 12 machine
#              with the packages of tools/setup.sh.
#   debian-12  images/debian-12-container.yaml: a bookworm minbase tree from mmdebstrap (Debian's mirror), imported with
#              `buildah from scratch`. Debian's mirror changes, so the digest is this machine's: --pin writes it into
#              the definition.
# Usage: tools/local-base-images.sh [--registry HOST:PORT] [--pin] [busybox] [debian-12]   (default: both; run as root)
# The registry (default 127.0.0.1:5000) is started when nothing answers there: docker-registry with its storage in
# $ROOTFSFORGE_CACHE/bases/registry (default ~/.cache/rootfsforge), left running; its pid goes to .../registry.pid.
# Build the definitions with: rootfsforge build images/NAME.yaml --insecure-registry HOST:PORT
set -euo pipefail
registry=127.0.0.1:5000
pin=0
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --registry) registry="$2"; shift 2 ;;
    --pin) pin=1; shift ;;
    busybox|debian-12) names+=("$1"); shift ;;
    *) echo "local-base-images.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=(busybox debian-12)
if [ "$(id -u)" -ne 0 ]; then echo "local-base-images.sh: run as root (buildah with vfs storage, mmdebstrap)" >&2; exit 1; fi
for tool in buildah docker-registry curl; do
  command -v "$tool" >/dev/null || { echo "local-base-images.sh: needs $tool (tools/setup.sh installs it)" >&2; exit 1; }
done

repo_root=$(cd "$(dirname "$0")/.." && pwd)
cache=${ROOTFSFORGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rootfsforge}/bases
mkdir -p "$cache/tmp"
# The time every base's files and config carry (a fixed one: the busybox base repeats byte for byte).
epoch=${SOURCE_DATE_EPOCH:-1700000000}
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot TMPDIR="$cache/tmp"
b() { buildah --root "$cache/buildah/root" --runroot "$cache/buildah/runroot" --storage-driver vfs "$@"; }

if ! curl -fsS -o /dev/null "http://$registry/v2/" 2>/dev/null; then
  mkdir -p "$cache/registry"
  cat > "$cache/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $cache/registry
http:
  addr: $registry
EOF
  nohup docker-registry serve "$cache/registry.yml" >"$cache/registry.log" 2>&1 &
  echo $! > "$cache/registry.pid"
  for _ in $(seq 50); do curl -fsS -o /dev/null "http://$registry/v2/" 2>/dev/null && break; sleep 0.2; done
  curl -fsS -o /dev/null "http://$registry/v2/" || { echo "local-base-images.sh: docker-registry did not start (see $cache/registry.log)" >&2; exit 1; }
  echo "started docker-registry on $registry (pid $(cat "$cache/registry.pid"))" >&2
fi

# commit + push NAME from working container C; prints the pinned reference.
publish() {
  local c="$1" name="$2" digest
  b commit -q --rm --timestamp "$epoch" "$c" "localhost/rootfsforge/$name:latest" >/dev/null
  b push -q --tls-verify=false --digestfile "$cache/$name.digest" "localhost/rootfsforge/$name:latest" "docker://$registry/rootfsforge/$name:latest"
  digest=$(cat "$cache/$name.digest")
  echo "docker://$registry/rootfsforge/$name@$digest"
}

busybox_base() {
  [ -x /bin/busybox ] || { echo "local-base-images.sh: needs /bin/busybox (apt-get install busybox-static)" >&2; exit 1; }
  local c root
  c=$(b from scratch)
  root=$(b mount "$c")
  mkdir "$root/bin"
  install -m 0755 /bin/busybox "$root/bin/busybox"
  b run --isolation chroot "$c" -- /bin/busybox --install -s /bin >&2
  b run --isolation chroot "$c" -- /bin/sh -c "mkdir -p /etc /tmp /root && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group" >&2
  b config --cmd /bin/sh --os linux --arch amd64 "$c" >&2
  publish "$c" busybox
}

debian_base() {
  command -v mmdebstrap >/dev/null || { echo "local-base-images.sh: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
  local c root tar="$cache/debian-12-minbase.tar"
  # --skip=output/dev: no device nodes (a runtime provides /dev).
  SOURCE_DATE_EPOCH=$epoch mmdebstrap --quiet --mode=root --variant=minbase --format=tar --skip=output/dev \
    bookworm "$tar" http://deb.debian.org/debian
  c=$(b from scratch)
  root=$(b mount "$c")
  tar -C "$root" --numeric-owner --xattrs --xattrs-include='*' -xpf "$tar"
  rm -f "$tar"
  b config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --os linux --arch amd64 "$c" >&2
  publish "$c" debian-12
}

for name in "${names[@]}"; do
  case "$name" in
    busybox) ref=$(busybox_base); file=$repo_root/images/busybox.yaml ;;
    debian-12) ref=$(debian_base); file=$repo_root/images/debian-12-container.yaml ;;
  esac
  echo "$name $ref"
  if [ "$pin" = 1 ]; then
    sed -i -E "s|^(  image: ).*|\\1$ref|" "$file"
    echo "pinned in $file" >&2
  fi
done
