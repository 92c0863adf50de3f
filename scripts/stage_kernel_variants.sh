#!/usr/bin/env bash
# Run here, before a device call that compares kernel versions: copies the CUDA kernel sources of each
# named git branch, or earlier commit of HEAD's history (a baseline), into the git-ignored .variants/<name>/ (carry it with the call:
# `carry: [".deps", ".anchor", ".variants"]`); `STAGES="build variants" bash scripts/gpu_session.sh` then
# builds and times each beside the working tree's kernels, in one call.
#   bash scripts/stage_kernel_variants.sh acf97a3 7c59fc0 feat/some-branch
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
(( $# > 0 )) || { echo "usage: stage_kernel_variants.sh BRANCH..." >&2; exit 2; }
rm -rf "$root/.variants"
for ref in "$@"; do
  git -C "$root" rev-parse --verify --quiet "$ref^{commit}" > /dev/null ||
    { echo "stage_kernel_variants: no branch or commit '$ref'" >&2; exit 1; }
  dir="$root/.variants/${ref//\//_}"
  mkdir -p "$dir"
  # Only the files the branch changed since it left HEAD's history: the stage overlays them on kernels/cuda.
  for f in $(git -C "$root" diff --name-only "$(git -C "$root" merge-base HEAD "$ref")" "$ref" -- kernels/cuda); do
    git -C "$root" show "$ref:$f" > "$dir/$(basename "$f")"
  done
  echo "$ref: $(ls "$dir" | tr '\n' ' ')"
done
