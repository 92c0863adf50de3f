#!/usr/bin/env bash
# Compiles every CUDA kernel source for sm_90a with the nvcc found here (PATH, else /usr/local/cuda) and
# prints each kernel's registers and spills, and any wgmma serialisation ptxas reports: a check that needs
# no GPU, run before a device call so that its minutes go to tests and timings, not to compile errors.
# Exit status: 0 when everything compiled, 1 when a source failed, 2 when there is no nvcc.
#   bash scripts/check_kernels.sh [kernels/cuda/w4a4_gemm_sm90.cu ...]
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
[[ -x "$nvcc" ]] || { echo "check_kernels: no nvcc on PATH or in /usr/local/cuda" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sources=("$@")
(( ${#sources[@]} > 0 )) || sources=("$root"/kernels/cuda/*.cu)
echo "check_kernels: $("$nvcc" --version | tail -1)"
failed=0
for src in "${sources[@]}"; do
  name=$(basename "$src")
  if ! "$nvcc" -std=c++17 -arch=sm_90a --expt-relaxed-constexpr -I"$root" -c "$src" -o "$work/$name.o" \
      -Xptxas -v > "$work/$name.log" 2>&1; then
    echo "FAILED $name"
    grep -E "error" "$work/$name.log" | head -20
    failed=1
    continue
  fi
  echo "$name"
  # ptxas reports, per entry function: its name, then its stack and spills, then its registers.
  awk '
    /Compiling entry function/ { match($0, /'"'"'[^'"'"']+'"'"'/); fn = substr($0, RSTART + 1, RLENGTH - 2) }
    /spill stores/ { spills = $5 + $9 }
    /Used [0-9]+ registers/ { match($0, /Used [0-9]+/); print substr($0, RSTART + 5, RLENGTH - 5), spills, fn }
  ' "$work/$name.log" | c++filt | sort -u | while read -r regs spilled fn; do
    printf "  %3s registers  %4s bytes spilled  %s\n" "$regs" "$spilled" "${fn:0:110}"
  done
  grep -iE "serializ|Potential Performance Loss" "$work/$name.log" | sed 's/^/  /'
done
exit $failed
