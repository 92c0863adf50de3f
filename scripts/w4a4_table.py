#!/usr/bin/env python3
"""Markdown tables of docs/BENCHMARKS.md from bench_w4a4's JSON lines (build-gpu-out/bench_w4a4.log).

    python3 scripts/w4a4_table.py build-gpu-out/bench_w4a4.log

Prints the per-linear table, the LLaMA-70B decoder-layer sums (qkv + o + gate_up + down) and the ranges
that the "Against the goals" table quotes (t+q % of copy and W4A4-vs-BF16 speedups at >= 2048 tokens).
"""
import json
import sys
from collections import defaultdict

LAYER_LINEARS = ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")


def rows_of(path):
    copy, rows = None, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            # bench_w4a4 prints a kernel it could not time (wrong result) as nan
            r = json.loads(line.replace(":nan", ":NaN").replace(":-nan", ":NaN"))
            if r.get("bench") == "copy":
                copy = r["GBps"]
            elif r.get("bench") == "w4a4":
                rows.append(r)
    if copy is None or not rows:
        sys.exit(f"w4a4_table: {path} has no copy line or no w4a4 lines")
    return copy, rows


def us(v):
    if v != v:
        return "wrong"
    return "–" if v == 0 else f"{v:.1f}"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    copy, rows = rows_of(sys.argv[1])
    print(f"copy bandwidth: {copy:.0f} GB/s\n")
    print("| model | linear | tokens | GEMM rows | t+q mma.sync µs | t+q wgmma µs | GB/s | % copy | t+q unfused fp32 µs | mma.sync µs | "
          "wgmma µs | GEMM TOPS | t+q / GEMM | W4A4 linear µs | BF16 cuBLAS µs | BF16 TFLOPS | speedup |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        pct = "–" if r["tq_pct_copy"] < 0.05 else f"{r['tq_pct_copy']:.1f}"
        print(f"| {r['model']} | {r['linear']} | {r['tokens']} | {r['gemm_rows']} | {r['tq_mma_sync_us']:.1f} | "
              f"{us(r['tq_wgmma_us'])} | "
              f"{r['tq_GBps']:.0f} | {pct} | {r['tq_unfused_fp32_us']:.1f} | {us(r['gemm_mma_sync_us'])} | "
              f"{us(r['gemm_wgmma_us'])} | {r['gemm_TOPS']:.0f} | {r['tq_over_gemm']:.3f} | "
              f"{r['w4a4_linear_us']:.1f} | {r['bf16_us']:.1f} | {r['bf16_TFLOPS']:.0f} | {r['speedup']:.2f}x |")

    layer = defaultdict(lambda: [0.0, 0.0, 0])
    for r in rows:
        if r["model"] == "llama70b" and r["linear"] in LAYER_LINEARS:
            s = layer[r["tokens"]]
            s[0] += r["w4a4_linear_us"]
            s[1] += r["bf16_us"]
            s[2] += 1
    if layer:
        print("\n| LLaMA-70B decoder layer (qkv + o + gate_up + down) | tokens | W4A4 µs | BF16 µs | speedup |")
        print("|---|---:|---:|---:|---:|")
        for tokens, (w4, bf, n) in sorted(layer.items()):
            if n == len(LAYER_LINEARS):
                print(f"| sum of the four linears | {tokens} | {w4:.0f} | {bf:.0f} | {bf / w4:.2f}x |")

    big = [r for r in rows if r["tokens"] >= 2048]
    dense = [r for r in big if not r["linear"].startswith("expert")]
    experts = [r for r in big if r["linear"].startswith("expert")]
    at8192 = [r for r in rows if r["tokens"] == 8192]
    print()
    print(f"t+q at 8192 tokens: {min(r['tq_pct_copy'] for r in at8192):.0f}-"
          f"{max(r['tq_pct_copy'] for r in at8192):.0f}% of copy "
          f"({min(r['tq_GBps'] for r in at8192):.0f}-{max(r['tq_GBps'] for r in at8192):.0f} GB/s)")
    for name, sel in (("dense", dense), ("routed experts", experts)):
        if sel:
            print(f"W4A4 linear vs BF16 at >= 2048 tokens, {name}: "
                  f"{min(r['speedup'] for r in sel):.2f}-{max(r['speedup'] for r in sel):.2f}x")
    wg = [r["gemm_TOPS"] for r in big if r["gemm_wgmma_us"] > 0 and r["gemm_us"] == r["gemm_wgmma_us"]]
    if wg:
        print(f"wgmma GEMM at >= 2048 tokens: {min(wg):.0f}-{max(wg):.0f} TOPS")


if __name__ == "__main__":
    main()
