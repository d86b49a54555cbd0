#!/bin/bash
# Prints the build matrix of the definitions in images/ affected since BASE (a commit id), as one JSON line
# {"include":[{"name":…,"definition":"images/NAME.yaml"},…]}; every definition without BASE, with an all-zero BASE (a new
# branch) or with one the clone does not have (a forced push). On GitHub Actions it also sets the step outputs
# `matrix` and `count`. Runs `rootfsforge build --list-changed` (README "Provenance and CI").
#   usage: tools/ci/list-changed.sh [BASE]        env: ROOTFSFORGE (the CLI; default rootfsforge on PATH)
set -euo pipefail
rf=(${ROOTFSFORGE:-rootfsforge})
args=(build --list-changed)
if [ -n "${1:-}" ]; then args+=(--since "$1"); fi
matrix=$("${rf[@]}" "${args[@]}")
count=$(printf '%s' "$matrix" | { grep -o '"definition":' || true; } | wc -l)
echo "$matrix"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    { echo "matrix=$matrix"; echo "count=$count"; } >> "$GITHUB_OUTPUT"
fi
