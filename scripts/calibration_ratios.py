#!/usr/bin/env python3
"""Prints the side-by-side table of a GPU session's calibration benchmark (scripts/gpu_session.sh stages
`calib` and `official`): per case the step time, peak memory, the layer's extrapolated GPU-seconds at the
paper's settings, and the ratio against the official implementation measured in the same session.

The official harness runs ONE rank of its N-GPU run (`emulated_world_size`), so its GPU-seconds per layer are
N x its layer seconds; flatquant runs the whole layer on one GPU. MoE cases compare with the official MoE
run, DeepSeek dense cases with the official dense run; the official harness has no LLaMA layer, so LLaMA
cases get no ratio.

Usage: calibration_ratios.py OUT_DIR   (the session's build-gpu-out: calibrate_layer.jsonl, official_*.log)"""
import json
import pathlib
import sys


def json_lines(path):
    """The JSON objects among a file's lines (the official logs mix them with progress text)."""
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    ours_path = out / "calibrate_layer.jsonl"
    if not ours_path.is_file():
        sys.exit(f"calibration_ratios: no {ours_path} (run the calib stage first)")
    ours = json_lines(ours_path)
    official = {}
    for log in sorted(out.glob("official_*.log")):
        for r in json_lines(log):
            official[r["kind"]] = r
    rows = [("case", "GPUs", "batch (micro)", "step s", "peak GiB", "layer s", "GPU-s / layer", "vs official")]
    for kind, r in sorted(official.items()):
        ws = r["emulated_world_size"]
        rows.append((f"official {kind} (1/{ws} rank)" if ws > 1 else f"official {kind} (whole)", str(ws),
                     f"{r['bsz']}", f"{r['step_s_median']:.3f}", f"{r['peak_mem_gib']:.1f}",
                     f"{r['layer_s_paper_settings']:.1f}", f"{ws * r['layer_s_paper_settings']:,.0f}", "1.00"))
    for r in ours:
        name = f"flatquant {r['preset']} layer {r['layer_id']} ({r['kind']}"
        name += f", routed down {r['routed_down']})" if r["kind"] == "moe" else ")"
        base = official.get(r["kind"]) if r["preset"].startswith("deepseek") else None
        ratio = "-"
        if base is not None:
            ratio = f"{base['emulated_world_size'] * base['layer_s_paper_settings'] / r['layer_s_paper_settings']:.2f}x"
        micro = f" ({r['micro_batch']})" if r.get("micro_batch") else ""
        rows.append((name, "1", f"{r['bsz']}{micro}", f"{r['step_s_median']:.3f}", f"{r['peak_mem_gib']:.1f}",
                     f"{r['layer_s_paper_settings']:.1f}", f"{r['layer_s_paper_settings']:,.0f}", ratio))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    if not official:
        print("(no official_*.log in this session: run the official stage for the ratios)")


if __name__ == "__main__":
    main()
