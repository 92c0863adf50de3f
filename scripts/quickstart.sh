#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the main job on an embedded
# default — FlatQuant W4A4 calibration of a tiny LLaMA-3 model, then its perplexity in full precision, with
# round-to-nearest W4A4 and with the calibrated transforms.
#
# The default is the tiny reference model in ../shared when it is there (configs/tiny-llama3.yaml, shortened
# to 32 windows x 5 epochs so that it takes a few minutes on two cores); otherwise a synthetic LLaMA-shaped
# checkpoint made by `flatquant make-model` and calibrated on a text every Debian system has.
#   FLATQUANT_QUICKSTART_OUT  run directory (default runs/quickstart)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${FLATQUANT_QUICKSTART_OUT:-$root/runs/quickstart}
bash "$root/scripts/setup.sh"
fq="$root/build/flatquant"

if [[ -d "$root/../shared/models/tiny-llama3" ]]; then
  config=("--config" "$root/configs/tiny-llama3.yaml" "--set" "data.nsamples=32" "--set" "flatquant.epochs=5")
  model="$root/../shared/models/tiny-llama3"
  text="$root/../shared/data/kjv/kjv.test.txt"
else
  model="$out/model"
  text=/usr/share/common-licenses/GPL-3
  [[ -f "$model/config.json" ]] || "$fq" make-model --preset tiny --family llama --out "$model" \
    --tokenizer-corpus "$text" --vocab 512
  config=("--set" "model=$model" "--set" "data.calibration=$text" "--set" "data.nsamples=32"
          "--set" "data.seqlen=128" "--set" "flatquant.epochs=5" "--set" "flatquant.compute_dtype=float32"
          "--set" "flatquant.target_dtype=float32" "--set" "flatquant.activation_dtype=float32")
fi

echo "[quickstart] calibrating into $out"
"$fq" calibrate "${config[@]}" --out "$out"
for method in fp rtn flatquant; do
  args=(--model "$model" --method "$method" --text "$text" --seqlen 256 --report "$out/eval-$method.json")
  [[ $method == flatquant ]] && args+=(--transforms "$out/transforms.h5")
  "$fq" eval "${args[@]}"
done
echo "[quickstart] done: $out/transforms.h5, report $out/report.json, evaluations $out/eval-*.json"
