#!/usr/bin/env bash
# On the GPU machine: builds only the GPU kernel tests and the W4A4 benchmark, runs both, and leaves logs
# in $OUT (default ./build-gpu-out, ignored by git): env.log, configure.log, build.log, test_gpu.log/.xml,
# bench.log (and ncu.log with NCU=1).
#   bash scripts/gpu_kernels.sh            # build + tests + benchmark
#   BENCH_ARGS="--tokens 2048" bash scripts/gpu_kernels.sh
# Needs .deps/debs from scripts/fetch_gpu_deps.sh (Boost.Program_options, PCRE2, nlohmann-json).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$root/build-gpu-out}
mkdir -p "$out"
cd "$root"
export PATH=/usr/local/cuda/bin:$PATH
# LibTorch's CMake config would otherwise probe the GPU for its own -gencode list (flatquant strips it).
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  nvcc --version | tail -1
  cmake --version | head -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.utils.cmake_prefix_path)'
} > "$out/env.log" 2>&1
cat "$out/env.log"

start=$(date +%s)
FLATQUANT_TARGETS="test_gpu bench_w4a4" FLATQUANT_JOBS=${FLATQUANT_JOBS:-16} bash scripts/setup.sh > "$out/build.log" 2>&1
build_rc=$?
cp build.configure.log "$out/configure.log" 2>/dev/null
echo "[gpu_kernels] build rc=$build_rc in $(( $(date +%s) - start )) s"
if [[ $build_rc -ne 0 ]]; then
  grep -E "error|Error|CMake Warning|CMake Error" -A3 "$out/build.log" | head -80
  tail -30 "$out/build.log"
  exit 1
fi
grep -E "^-- flatquant" "$out/configure.log"

start=$(date +%s)
timeout "${TEST_TIMEOUT:-240}" ./build/tests/test_gpu --gtest_output="xml:$out/test_gpu.xml" > "$out/test_gpu.log" 2>&1
test_rc=$?
echo "[gpu_kernels] test_gpu rc=$test_rc in $(( $(date +%s) - start )) s"
grep -E "^\[  (FAILED|SKIPPED|PASSED) |Failure|differ|fraction|expected|Which is" "$out/test_gpu.log" | head -60

start=$(date +%s)
# shellcheck disable=SC2086
timeout "${BENCH_TIMEOUT:-300}" ./build/bench/bench_w4a4 ${BENCH_ARGS:-} > "$out/bench.log" 2>&1
bench_rc=$?
echo "[gpu_kernels] bench rc=$bench_rc in $(( $(date +%s) - start )) s"
tail -45 "$out/bench.log"
if [[ -n "${NCU:-}" ]]; then  # hardware counters of one launch of the fused kernel and of each wgmma GEMM
  ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  sections=(--section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats
            --section SchedulerStats --section MemoryWorkloadAnalysis)
  bench_one=(./build/bench/bench_w4a4 --models llama70b --linears qkv_proj --tokens 8192 --target-ms 1)
  start=$(date +%s)
  {
    timeout 120 "$ncu_bin" -k regex:kron_transform_quant_kernel -s 3 -c 1 "${sections[@]}" "${bench_one[@]}"
    timeout 120 "$ncu_bin" -k regex:w4a4_gemm_wgmma_kernel -c 2 "${sections[@]}" "${bench_one[@]}"
  } > "$out/ncu.log" 2>&1
  echo "[gpu_kernels] ncu rc=$? in $(( $(date +%s) - start )) s"
fi
exit $(( test_rc != 0 || bench_rc != 0 ))
