#!/usr/bin/env bash
# On the GPU machine: unpacks the carried Debian packages (.deps/debs, from scripts/fetch_gpu_deps.sh) into
# the private prefix .deps/root that the build uses (headers first, rpath to its lib). Idempotent; a device
# call's carry replaces .deps wholesale, so every session script calls this before using the build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -d "$root/.deps/debs" ]] || exit 0
stamp="$root/.deps/root/.unpacked"
if [[ ! -f "$stamp" || "$root/.deps/debs" -nt "$stamp" ]]; then
  echo "[setup] unpacking $(ls "$root/.deps/debs"/*.deb | wc -l) carried packages into .deps/root"
  mkdir -p "$root/.deps/root"
  for deb in "$root/.deps/debs"/*.deb; do dpkg -x "$deb" "$root/.deps/root"; done
  touch "$stamp"
fi
