#!/usr/bin/env bash
# The one script of a GPU session (the device machine: CUDA, LibTorch from the Python torch, no network).
# Builds flatquant with CUDA, runs the GPU tests, checks GPU numerics on the tiny reference model, and runs
# the benchmarks beside their baselines; logs and JSON lines go to ./build-gpu-out, and when the device tool
# sets $OUT (it returns at most 8 files) they come back packed in $OUT/gpu-session.tar.gz.
# Prepare here first: `bash scripts/stage_device_inputs.sh`, then run with carry [".deps", ".anchor"]:
#   bash scripts/gpu_session.sh                          # every stage
#   STAGES="build test" bash scripts/gpu_session.sh      # a subset, in this order:
#     build      CUDA build of the CLI, the GPU tests and the benchmarks
#     test       tests/test_gpu (kernels vs CPU references, ...)
#     numerics   calibrate + evaluate tiny-llama3 on the GPU (compare with the CPU run: docs/BENCHMARKS.md)
#     calib      bench_calibrate_layer: DeepSeek V3 MoE (shared / per-expert down transform) and dense
#                layers, LLaMA-3-70B layer, one whole layer on one GPU each (CALIB_CASES="moe_shared dense"
#                picks cases by name)
#     profile    nsys kernel summary of a few MoE-layer calibration steps (where nsys is installed)
#     ranks      tiny-deepseek-v3 calibrated by 1 and by 2 ranks (mpirun, one GPU each, NCCL between them):
#                wall times and the difference of the two transforms.h5 (needs the nvidia-h200-x2 kind)
#     official   the official implementation's harness on the same shapes (.anchor/official-flatquant)
#     kernels    bench_w4a4 (fused transform + quantize, W4A4 GEMM vs cuBLAS BF16); NCU=1 adds counters
#     variants   each kernel version staged in .variants/ (scripts/stage_kernel_variants.sh) overlaid on
#                kernels/cuda in turn, rebuilt, tested (VARIANT_TESTS) and timed (VARIANT_BENCH_ARGS), then
#                the working tree's kernels again, so that every version is timed beside the others
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/build-gpu-out
stages=" ${STAGES:-build test numerics calib official kernels} "
rm -rf "$out"; mkdir -p "$out"
cd "$root"
export PATH=/usr/local/cuda/bin:$PATH
# LibTorch's CMake config would otherwise probe the GPU for its own -gencode list (flatquant strips it).
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
# Fewer out-of-memory failures from fragmentation when a whole MoE layer fills the GPU.
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
failed=0
bash scripts/unpack_gpu_deps.sh

has() { [[ $stages == *" $1 "* ]]; }
# step NAME TIMEOUT CMD...: runs CMD with its output in $out/NAME.log, prints the time and the exit code.
step() {
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  rc=$?
  echo "[gpu_session] $name rc=$rc in $(( $(date +%s) - start )) s"
  (( rc == 0 )) || failed=1
  return $rc
}

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  nvcc --version | tail -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
} > "$out/env.log" 2>&1
cat "$out/env.log"

# pack_on_exit: even a failed or timed-out session returns its logs.
trap '[[ -n "${OUT:-}" ]] && tar -czf "$OUT/gpu-session.tar.gz" -C "$root" --exclude=activations build-gpu-out' EXIT

if has build; then
  if ! step build 560 env FLATQUANT_JOBS=${FLATQUANT_JOBS:-16} \
      FLATQUANT_TARGETS="${BUILD_TARGETS:-flatquant test_gpu bench_w4a4 bench_calibrate_layer}" bash scripts/setup.sh; then
    # Every compile error at once (keep going), so that one session fixes them all.
    cmake --build build -j 16 -- -k 2>&1 | grep -E "error|Error" -A4 | head -120
    tail -20 "$out/build.log"
    exit 1
  fi
  grep -E "^-- flatquant" build.configure.log
fi

if has test; then
  # ../shared does not travel: the staged copy of what the GPU tests read stands in for it.
  step test_gpu 240 env FLATQUANT_SHARED_DIR="$root/.anchor" ./build/tests/test_gpu --gtest_output="xml:$out/test_gpu.xml"
  grep -E "^\[  (FAILED|SKIPPED|PASSED) |^\[int4 gpu\]|^\[prefix gpu\]|Failure|Which is" "$out/test_gpu.log" | head -40
fi

if has numerics; then
  # The quickstart's shortened tiny-llama3 calibration, on the GPU in float32 (the CPU run is the reference).
  run_dir="$out/numerics-tiny-llama3"
  rm -rf "$run_dir"
  step numerics_calibrate 300 ./build/flatquant calibrate --config configs/tiny-llama3.yaml \
    --set model=.anchor/models/tiny-llama3 --set data.calibration=.anchor/data/kjv/kjv.train.txt \
    --set data.nsamples=32 --set flatquant.epochs=5 --set distributed.device=cuda --out "$run_dir" &&
  step numerics_eval 120 ./build/flatquant eval --model .anchor/models/tiny-llama3 --method flatquant \
    --transforms "$run_dir/transforms.h5" --text .anchor/data/kjv/kjv.test.txt --seqlen 256 --device cuda \
    --dtype float32 --report "$out/numerics-eval.json"
  tail -n 3 "$out/numerics_calibrate.log" "$out/numerics_eval.log"
fi

calib_cases=(
  "moe_shared         --preset deepseek-v3 --layer 3 --samples 8 --batch 8 --micro-batch 4 --seqlen 4096 --steps 3"
  "moe_per_expert     --preset deepseek-v3 --layer 3 --samples 8 --batch 8 --micro-batch 4 --seqlen 4096 --steps 3 --routed-down per_expert"
  "moe_shared_mb2     --preset deepseek-v3 --layer 3 --samples 8 --batch 8 --micro-batch 2 --seqlen 4096 --steps 3"
  "dense              --preset deepseek-v3 --layer 0 --samples 16 --batch 8 --seqlen 4096 --steps 5"
  "llama70b           --preset llama-3-70b --layer 0 --samples 8 --batch 4 --seqlen 2048 --steps 5"
)
if has calib; then
  for case in "${calib_cases[@]}"; do
    read -r name args <<< "$case"
    [[ -z "${CALIB_CASES:-}" || " $CALIB_CASES " == *" $name "* ]] || continue
    # shellcheck disable=SC2086
    step "calib_$name" 240 ./build/bench/bench_calibrate_layer $args --json "$out/calibrate_layer.jsonl"
    grep -v "^frame" "$out/calib_$name.log" | tail -n 2
  done
fi

if has profile; then
  nsys_bin=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys \
    /usr/local/cuda/nsight-systems-*/bin/nsys 2>/dev/null | head -1)
  if [[ -n "$nsys_bin" ]]; then
    # shellcheck disable=SC2086
    step profile_moe 300 "$nsys_bin" profile --trace=cuda --stats=false --force-overwrite=true -o "$out/moe" \
      ./build/bench/bench_calibrate_layer ${PROFILE_ARGS:---preset deepseek-v3 --layer 3 --samples 8 --batch 8 --micro-batch 2 --seqlen 4096 --steps 2}
    "$nsys_bin" stats --report cuda_gpu_kern_sum,cuda_api_sum --format csv -o "$out/moe" "$out/moe.nsys-rep" > /dev/null 2>&1
    rm -f "$out/moe.nsys-rep" "$out/moe.sqlite"
    head -c 6000 "$out/moe_cuda_gpu_kern_sum.csv"
  else
    echo "[gpu_session] profile: no nsys on this machine"
  fi
fi

if has ranks; then
  ranks_config=(--config configs/tiny-deepseek-v3.yaml --set model=.anchor/models/tiny-deepseek-v3
                --set data.calibration=.anchor/data/kjv/kjv.train.txt --set data.nsamples=32 --set flatquant.epochs=3
                --set distributed.device=cuda)
  for n in 1 2; do
    rm -rf "$out/ranks-$n"
    step "ranks_$n" 300 mpirun --allow-run-as-root --oversubscribe -np "$n" \
      ./build/flatquant calibrate "${ranks_config[@]}" --out "$out/ranks-$n"
    grep -E "plan|nccl|done elapsed" "$out/ranks_$n.log" | head -8
    rm -rf "$out/ranks-$n/activations"
  done
  # Each layer is calibrated by one GPU either way: the artifacts should agree to float tolerance.
  h5diff -r -p 1e-3 "$out/ranks-1/transforms.h5" "$out/ranks-2/transforms.h5" > "$out/ranks_h5diff.log" 2>&1
  echo "[gpu_session] h5diff -p 1e-3 rc=$? ($(grep -c 'differences found' "$out/ranks_h5diff.log") datasets differ)"
  h5diff -r "$out/ranks-1/transforms.h5" "$out/ranks-2/transforms.h5" > /dev/null 2>&1
  echo "[gpu_session] h5diff exact rc=$? (0: bitwise identical)"
fi

if has official; then
  # The official harness (README of .anchor/official-flatquant): one rank of its 16-GPU run for the MoE
  # layer (a whole one does not fit 80 GB), the whole dense layer at its largest batch that fits.
  official=.anchor/official-flatquant/bench_dsv3_layer.py
  step official_moe_ws16 240 env WS=16 python3 "$official" 3 16 8 4096 6 && tail -1 "$out/official_moe_ws16.log"
  step official_dense_ws1 240 env WS=1 python3 "$official" 0 4 1 4096 6 && tail -1 "$out/official_dense_ws1.log"
fi

if [[ -s "$out/calibrate_layer.jsonl" ]] && has official; then
  # The side-by-side table: per-layer GPU-seconds and the ratios against the official run of this session.
  python3 scripts/calibration_ratios.py "$out" | tee "$out/calibration_ratios.txt"
fi

if has kernels; then
  # shellcheck disable=SC2086
  step bench_w4a4 300 ./build/bench/bench_w4a4 ${BENCH_ARGS:-}
  tail -45 "$out/bench_w4a4.log"
  if [[ -n "${NCU:-}" ]]; then  # hardware counters of one launch of each fused t+q kernel and of the wgmma GEMM
    ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
    sections=(--section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats
              --section SchedulerStats --section MemoryWorkloadAnalysis)
    bench_one=(./build/bench/bench_w4a4 --models llama70b --linears qkv_proj --tokens 8192 --target-ms 1)
    # both fused t+q kernels (the wgmma one with its stall reasons per source line) and the wgmma GEMM
    step ncu 300 bash -c "$ncu_bin -k regex:kron_transform_quant_kernel -s 3 -c 1 ${sections[*]} ${bench_one[*]} &&
      $ncu_bin -k regex:kron_transform_quant_wgmma_kernel -s 3 -c 1 ${sections[*]} --section SourceCounters \
        ${bench_one[*]} &&
      $ncu_bin -k regex:w4a4_gemm_wgmma_kernel -c 2 ${sections[*]} ${bench_one[*]}"
  fi
fi
if has variants; then
  # Each version's files overlay kernels/cuda and are put back after it, all with fresh times, so that the
  # kept build recompiles exactly what changed.
  saved=$(mktemp -d)
  cp kernels/cuda/* "$saved/"
  for dir in .variants/* ""; do
    name=$(basename "${dir:-working-tree}")
    overlaid=()
    if [[ -n "$dir" ]]; then
      for f in "$dir"/*; do overlaid+=("$(basename "$f")"); cp "$f" kernels/cuda/; done
    fi
    if step "variant_build_$name" 300 cmake --build build --target test_gpu bench_w4a4 -j 16; then
      step "variant_test_$name" 240 env FLATQUANT_SHARED_DIR="$root/.anchor" ./build/tests/test_gpu \
        --gtest_filter="${VARIANT_TESTS:-W4A4GemmGpu.*:KronTransformQuantGpu.*}"
      grep -E "^\[  (FAILED|PASSED) " "$out/variant_test_$name.log"
      # shellcheck disable=SC2086
      step "variant_bench_$name" 300 ./build/bench/bench_w4a4 \
        ${VARIANT_BENCH_ARGS:---models llama70b,dsv3 --tokens 2048,8192 --target-ms 5}
    fi
    for f in "${overlaid[@]}"; do cp "$saved/$f" kernels/cuda/; done
  done
  rm -rf "$saved"
fi
exit $failed
