"""Published tensor-parallel inference latencies against roofscope's predicted serving steps.

Run from the repository root:  python bench/tp_inference_published.py

The published figures (copied into ROWS below, each with its source):
  * NVIDIA/TensorRT-LLM, docs/source/performance.md at commit
    138f96d45f90b9667426f7c47297d8c06bafac73, section "Low Latency" (TensorRT-LLM v0.5): the first
    token latency at batch 1 of LLaMA 7B (TP 1) and LLaMA 70B (TP 4), inputs of 128 and 2,048
    tokens, on H100 80GB HBM3 in FP8 (--enable_fp8 --fp8_kv_cache) and on A100 in FP16 (the same
    builds without those options). The 70B build: 80 layers, 64 heads, 8 KV heads, hidden 8192,
    MLP 28672, vocabulary 32000 (llama-2-70b's shape). Timed by gptSessionBenchmark with one output
    token: the time to first token is one prefill.
  * NVIDIA/FasterTransformer, docs/gpt_guide.md (last changed in commit
    bc4139e636c410195fd81b849d44d1325f5fef7d), section "Performance", GPT-20B: 44 layers, 48 heads
    of 128, vocabulary 51200, FP16, on 8 x A100-80GB linked by NVSwitch; the latency of the context
    and all output tokens at TP 1, 2, 4 and 8 (top_p 0.9 sampling).

Predicted (nothing fitted to these figures): ``LLM(preset, device=, dtype=, kv=, mode="compiled")``,
whose steps are analysed once per shape and split with ``roofscope.llm.parallel.serving(...,
predicted=True)``: each op's predicted kernel time (compiled mode: fused kernels, no per-op host
time; the device's sustained rates, tile and wave quantisation, the kernel floor) divided by its
module's split, not below the kernel floor, plus the TP all-reduces on the interconnect's
sustained bandwidth (NCCL's measured bus bandwidth where the catalog has it, else the datasheet's)
and per-step latency. A time to first token is one prefill step of the input;
FasterTransformer's latency is the prefill plus one decode step per output token, each at the
context halfway through the output (decode time grows linearly with the context). Not modelled:
sampling (FasterTransformer's top-p), the engines' own launch and synchronisation costs, and
TensorRT-LLM's custom all-reduce. Prints a table and writes bench/results/tp-inference-published.md.
"""

from __future__ import annotations

import dataclasses
import datetime
import statistics
import sys
import time
from pathlib import Path

import torch

from roofscope.llm import LLM, Layout
from roofscope.llm.parallel import serving
from roofscope.models.presets import Preset

GOAL = 0.15  # the project's goal: median |predicted - published| / published

TRT = "TensorRT-LLM v0.5 (NVIDIA/TensorRT-LLM docs/source/performance.md @138f96d4, Low Latency)"
FT = "FasterTransformer (NVIDIA/FasterTransformer docs/gpt_guide.md @bc4139e6, GPT-20B)"

GPT_20B = Preset(
    "GPT2Config",
    dict(n_embd=48 * 128, n_layer=44, n_head=48, vocab_size=51200, n_positions=2048, activation_function="gelu_pytorch_tanh"),
    dtype=torch.float16,
)


@dataclasses.dataclass(frozen=True)
class Row:
    source: str
    model: str  # a preset name, or "gpt-20b"
    device: str
    dtype: str
    kv: str | None
    tp: int
    batch: int
    input_len: int
    output_len: int  # 1: the time to first token, one prefill
    published_ms: float

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return (self.model, self.device, self.dtype, self.kv)


ROWS = [
    # TensorRT-LLM v0.5, batch 1, first token latency (ms)
    Row(TRT, "llama-2-7b", "h100-sxm", "fp8", "fp8", 1, 1, 128, 1, 7),
    Row(TRT, "llama-2-7b", "h100-sxm", "fp8", "fp8", 1, 1, 2048, 1, 36),
    Row(TRT, "llama-2-70b", "h100-sxm", "fp8", "fp8", 4, 1, 128, 1, 26),
    Row(TRT, "llama-2-70b", "h100-sxm", "fp8", "fp8", 4, 1, 2048, 1, 109),
    Row(TRT, "llama-2-7b", "a100-80gb", "fp16", None, 1, 1, 128, 1, 16),
    Row(TRT, "llama-2-7b", "a100-80gb", "fp16", None, 1, 1, 2048, 1, 133),
    Row(TRT, "llama-2-70b", "a100-80gb", "fp16", None, 4, 1, 128, 1, 47),
    Row(TRT, "llama-2-70b", "a100-80gb", "fp16", None, 4, 1, 2048, 1, 377),
    # FasterTransformer GPT-20B on A100-80GB, FP16: latency (ms) of the context and the output tokens
    *(
        Row(FT, "gpt-20b", "a100-80gb", "fp16", None, tp, batch, input_len, output_len, ms)
        for batch, input_len, output_len, times in (
            (1, 20, 8, (225, 147, 102, 89)),
            (8, 20, 8, (239, 169, 121, 107)),
            (1, 128, 20, (566, 362, 254, 217)),
            (32, 128, 20, (1335, 862, 547, 418)),
        )
        for tp, ms in zip((1, 2, 4, 8), times, strict=True)
    ),
]


def build(row: Row) -> LLM:
    spec: str | Preset = GPT_20B if row.model == "gpt-20b" else row.model
    return LLM(spec, device=row.device, dtype=row.dtype, kv=row.kv, mode="compiled")


def predict(llm: LLM, row: Row) -> tuple[float, float]:
    """(predicted seconds, of which collectives) of the row's request on its TP layout."""
    layout = Layout(tp=row.tp)
    context = row.input_len + row.output_len // 2
    summary = serving(llm, layout, row.batch, row.input_len, context, llm.device, predicted=True)
    prefill, decode = summary.prefill, summary.decode
    assert prefill.seconds is not None and decode.seconds is not None
    steps = row.output_len if row.output_len > 1 else 0
    seconds = prefill.seconds + steps * decode.seconds
    collectives = (prefill.collective_s or 0.0) + steps * (decode.collective_s or 0.0)
    return seconds, collectives


def main() -> None:
    models: dict[tuple[str, str, str, str | None], LLM] = {}
    results = []
    for position, row in enumerate(ROWS, 1):
        start = time.perf_counter()
        if row.key not in models:
            models[row.key] = build(row)
        seconds, collectives = predict(models[row.key], row)
        error = seconds * 1e3 / row.published_ms - 1
        results.append((row, seconds, collectives, error))
        print(
            f"[{position}/{len(ROWS)}] {row.model} TP {row.tp} on {row.device}, batch {row.batch}, {row.input_len} -> "
            f"{row.output_len}: published {row.published_ms:g} ms, predicted {seconds * 1e3:.1f} ms ({error:+.1%}), "
            f"{time.perf_counter() - start:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    median = statistics.median(abs(r[3]) for r in results)
    lines = [
        f"# Tensor-parallel inference latency: published against roofscope ({datetime.date.today()})",
        "",
        "`python bench/tp_inference_published.py`. Sources: " + TRT + "; " + FT + ". Predicted: compiled-mode kernel "
        "times of each op split over TP GPUs (not below the kernel floor), plus the TP all-reduces on the "
        "interconnect's sustained figures (NCCL's measured bus bandwidth); nothing fitted. Output 1 = time to first token (one prefill); otherwise "
        "the prefill and one decode step per output token. Goal: median |error| <= 15%.",
        "",
        "| source | model | device | precision | TP | batch | input -> output | published ms | predicted ms | error | collectives ms |",
        "|---|---|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for row, seconds, collectives, error in results:
        precision = row.dtype + (f" + {row.kv} KV" if row.kv else "")
        lines.append(
            f"| {row.source.split(' (')[0]} | {row.model} | {row.device} | {precision} | {row.tp} | {row.batch} "
            f"| {row.input_len} -> {row.output_len} | {row.published_ms:g} | {seconds * 1e3:.1f} | {error:+.1%} "
            f"| {collectives * 1e3:.2f} |"
        )
    met = "met" if median <= GOAL else "not met"
    by_source = {
        source: statistics.median(abs(r[3]) for r in results if r[0].source == source) for source in dict.fromkeys(r.source for r in ROWS)
    }
    lines += ["", f"Median |error|: {median:.1%} over {len(results)} rows; the goal (<= 15%) is {met}."]
    lines += [f"- {source}: median |error| {value:.1%}" for source, value in by_source.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).parent / "results" / "tp-inference-published.md"
    out.write_text(text)
    print(f"written: {out.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
