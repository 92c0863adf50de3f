#!/usr/bin/env bash
# Installs what flatquant needs, then configures and builds it in Release (idempotent).
#
#   Debian 12 / Ubuntu with apt: installs the missing packages (CPU LibTorch from libtorch-dev).
#   GPU machine (a Python torch with CUDA, no network): installs nothing; LibTorch comes from the Python
#   torch, and Boost.Program_options / PCRE2 / nlohmann-json from Debian packages carried in .deps/debs
#   (see scripts/fetch_gpu_deps.sh), unpacked into the private prefix .deps/root.
#
# Environment: FLATQUANT_BUILD_DIR (default build), FLATQUANT_JOBS (default nproc),
#              FLATQUANT_CMAKE_ARGS (extra configure arguments), FLATQUANT_TARGETS (default: all).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${FLATQUANT_BUILD_DIR:-$root/build}
jobs=${FLATQUANT_JOBS:-$(nproc)}
extra_packages=("$@")  # scripts/test.sh adds the packages only the tests need

say() { echo "[setup] $*"; }

python_torch_prefix() {
  python3 -c 'import torch; assert torch.version.cuda; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true
}

torch_prefix=$(python_torch_prefix)
cmake_args=(-DCMAKE_BUILD_TYPE=Release)

if [[ -n "$torch_prefix" && ! -d /usr/lib/x86_64-linux-gnu/cmake/Torch ]]; then
  say "GPU machine: LibTorch from the Python torch at $torch_prefix; no packages are installed"
  cmake_args+=("-DCMAKE_PREFIX_PATH=$torch_prefix")
  bash "$root/scripts/unpack_gpu_deps.sh"  # Debian's -dev symlinks are relative: valid in the prefix
else
  # libopenblas0-openmp: Debian's LibTorch links the generic libblas.so.3, which is the slow reference
  # BLAS unless an optimised implementation is installed as its alternative (5x on the learning test).
  packages=(cmake g++ make pkg-config libtorch-dev libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools
            libyaml-cpp-dev libboost-program-options-dev libgtest-dev libgmock-dev nlohmann-json3-dev
            libpcre2-dev libopenblas0-openmp "${extra_packages[@]}")
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    say "installing: ${missing[*]}"
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    say "all packages present"
  fi
fi

# shellcheck disable=SC2206
cmake_args+=(${FLATQUANT_CMAKE_ARGS:-})
say "configuring $build_dir"
cmake -S "$root" -B "$build_dir" "${cmake_args[@]}" > "$build_dir.configure.log" 2>&1 || {
  cat "$build_dir.configure.log"; exit 1; }
grep -E "^-- flatquant:" "$build_dir.configure.log" || true
say "building with $jobs jobs"
# shellcheck disable=SC2086
cmake --build "$build_dir" -j "$jobs" ${FLATQUANT_TARGETS:+--target $FLATQUANT_TARGETS}
say "done: $build_dir/flatquant"
