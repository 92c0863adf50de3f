#!/usr/bin/env bash
# Run here, before a device call: puts what the GPU machine cannot reach into git-ignored folders that the
# call carries (`carry: [".deps", ".anchor"]`), since ../shared does not travel with the working tree:
#   .deps/debs                    Debian packages the GPU machine lacks (scripts/fetch_gpu_deps.sh)
#   .anchor/official-flatquant    the official implementation and its harness (the speed baseline)
#   .anchor/models, .anchor/data  the tiny reference models and the corpus (CPU-vs-GPU numerics check)
# Nothing here is part of the project: the folders are transport only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${FLATQUANT_SHARED_DIR:-$root/../shared}
[[ -d "$shared/anchors/official-flatquant" ]] || { echo "stage_device_inputs: no $shared/anchors" >&2; exit 1; }
[[ -d "$root/.deps/debs" ]] || bash "$root/scripts/fetch_gpu_deps.sh"
mkdir -p "$root/.anchor/models" "$root/.anchor/data"
copy() { rm -rf "$2"; cp -a "$1" "$2"; }
copy "$shared/anchors/official-flatquant" "$root/.anchor/official-flatquant"
for m in tiny-llama3 tiny-deepseek-v3; do copy "$shared/models/$m" "$root/.anchor/models/$m"; done
copy "$shared/data/kjv" "$root/.anchor/data/kjv"
du -sh "$root/.deps" "$root/.anchor"
