#!/bin/bash
# Builds one definition with every output it names (.fl blocks go to its stores; hub: outputs are pushed when PUSH=1),
# then checks each .fl written: every block present in its stores and, with SIGNING_PUBLIC_KEY, the manifest signed by
# that key. The manifest is OUTDIR/NAME.build.json (the workflow uploads it as an artifact).
#   usage: tools/ci/build-one.sh images/NAME.yaml [OUTDIR]
#   env:   ROOTFSFORGE (the CLI; default rootfsforge on PATH), PUSH=1 (upload hub outputs), SIGNING_PUBLIC_KEY (base64)
#   secrets, read by rootfsforge from the environment and never on a command line or in this script's output:
#          ROOTFSFORGE_SIGNING_KEY (signs the manifest), RFS_HUB_TOKEN (hub outputs), the variables the definition's
#          stores name in credentials_env.
set -euo pipefail
set +x # never trace: the environment holds secrets
definition=${1:?usage: build-one.sh images/NAME.yaml [OUTDIR]}
out=${2:-out}
rf=(${ROOTFSFORGE:-rootfsforge})
mkdir -p "$out"
args=(build "$definition" --output-dir "$out")
# Container definitions whose base is one of tools/local-base-images.sh's (docker://127.0.0.1:5000/rootfsforge/NAME@…):
# make that base and serve it locally first, since nothing of it comes from a public registry. busybox's base is
# reproducible, so its pinned digest matches; debian-12's follows Debian's mirror and matches only when re-pinned.
base=$(sed -n 's|^ *image: *docker://127\.0\.0\.1:5000/rootfsforge/\([a-z0-9-]*\)@.*|\1|p' "$definition" | head -1)
if [ -n "$base" ]; then
    bash "$(dirname "$0")/../local-base-images.sh" "$base" >&2
    args+=(--insecure-registry 127.0.0.1:5000)
fi
if [ "${PUSH:-0}" = 1 ]; then args+=(--push); fi
"${rf[@]}" "${args[@]}"
shopt -s nullglob
for fl in "$out"/*.fl; do
    if [ -n "${SIGNING_PUBLIC_KEY:-}" ]; then
        "${rf[@]}" fl verify "$fl" --signed-by "$SIGNING_PUBLIC_KEY"
    else
        "${rf[@]}" fl verify "$fl"
    fi
done
manifests=("$out"/*.build.json)
if [ ${#manifests[@]} -eq 0 ]; then echo "build-one.sh: no build manifest in $out" >&2; exit 1; fi
printf '%s\n' "${manifests[@]}"
