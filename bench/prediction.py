"""Predicted against measured: every published per-op GPU timing in the reference data, replayed
through roofscope, with no constant fitted to them.

    .venv/bin/python bench/prediction.py [--data DIR] [--out bench/results/prediction.md]

DIR (default: ../shared/reference/measured beside the repository) holds the CSVs its README
describes: Vidur's Llama-2-7B layer ops on H100 and A100 (GPU kernel time per op: compared with
roofscope's predicted device time of the op's kernel) and LLMCompass's A100 GEMM, softmax, layer
norm and GELU (host wall time of one synchronised eager call: compared with roofscope's predicted
eager time of that one op, plus the per-op overhead LLMCompass measured for its own harness,
which is that harness's cost, not the device's). Each op is built as the module that ran it and
analysed on the meta device. Per file: the median and largest |predicted - measured| / measured,
and the bias (the median of predicted / measured - 1). The figures the prediction uses, and their
sources, are the catalog's (src/roofscope/devices/catalog.toml).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import roofscope

ROOT = Path(__file__).resolve().parents[1]
DEVICES = {"h100": "h100-sxm", "a100": "a100-80gb"}

#: LLMCompass's measured fixed cost of one synchronised eager PyTorch op in its harness on an A100
#: (hardware_model/compute_module.py, overhead_dict["A100"]; measured by gpu_kernel_launch_overhead():
#: a 1x1 op between two torch.cuda.synchronize() calls, median of 50).
LLMCOMPASS_OVERHEAD_S = {"matmul": 21e-6, "softmax": 12e-6, "layernorm": 45e-6, "gelu": 45e-6}


@dataclass
class Row:
    file: str
    label: str
    predicted_s: float
    measured_s: float

    @property
    def error(self) -> float:
        return (self.predicted_s - self.measured_s) / self.measured_s


class RMSNorm(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.rms_norm(x, (x.shape[-1],), self.weight, 1e-5)


class Rope(nn.Module):
    """Rotary embedding of q and k with a cos/sin table (sarathi's fused kernel: one pass over q and k)."""

    def __init__(self, tokens: int, width: int, head: int = 128) -> None:
        super().__init__()
        self.register_buffer("cos", torch.ones(tokens, head // 2))
        self.register_buffer("sin", torch.ones(tokens, head // 2))
        self.head = head

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        shaped = x.view(x.shape[0], -1, self.head)
        first, second = shaped.chunk(2, dim=-1)
        cos, sin = self.cos.unsqueeze(1), self.sin.unsqueeze(1)
        return torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1).view_as(x)

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rotate(q), self.rotate(k)


class SiluAndMul(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = x.chunk(2, dim=-1)
        return nn.functional.silu(gate) * up


class Block(nn.Module):
    """The ops of one Llama-2-7B decoder layer that Vidur's mlp.csv times, at tensor-parallel degree
    ``tp`` (each op one worker's share), in the order they run (attention itself is not timed)."""

    def __init__(self, tokens: int, tp: int) -> None:
        super().__init__()
        hidden, mlp, vocab = 4096, 11008, 32768
        self.emb = nn.Embedding(vocab // tp, hidden)
        self.input_layernorm = RMSNorm(hidden)
        self.attn_pre_proj = nn.Linear(hidden, 3 * hidden // tp, bias=False)
        self.attn_rope = Rope(tokens, hidden // tp)
        self.attn_post_proj = nn.Linear(hidden // tp, hidden, bias=False)
        self.post_attention_layernorm = RMSNorm(hidden)
        self.mlp_up_proj = nn.Linear(hidden, 2 * mlp // tp, bias=False)
        self.mlp_act = SiluAndMul()
        self.mlp_down_proj = nn.Linear(mlp // tp, hidden, bias=False)
        self.add = Add()
        self.attention = nn.Linear(hidden // tp, hidden // tp, bias=False)  # stands in for attention (not timed)
        self.tp = tp

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.emb(ids)
        h = self.input_layernorm(x)
        q, k, v = self.attn_pre_proj(h).chunk(3, dim=-1)
        q, k = self.attn_rope(q, k)
        h = self.add(x, self.attn_post_proj(self.attention(q) + self.attention(k) + self.attention(v)))
        x = self.post_attention_layernorm(h)
        return self.add(h, self.mlp_down_proj(self.mlp_act(self.mlp_up_proj(x))))


class Add(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


#: Vidur's op columns and the modules of Block that run them.
VIDUR_OPS = (
    "emb",
    "input_layernorm",
    "attn_pre_proj",
    "attn_rope",
    "attn_post_proj",
    "post_attention_layernorm",
    "mlp_up_proj",
    "mlp_act",
    "mlp_down_proj",
    "add",
)


def _device_time(report: roofscope.Report, module: str, *, fused: bool) -> float:
    """The predicted kernel time of a module's ops (device time, no host), its first call; a
    module whose ops a fused kernel runs (``fused``) counts as the one kernel of compiled mode."""
    ops = [r for r in report.ops if r.module == module or r.module.startswith(module + ".")]
    if module == "add":  # called twice: Vidur times the residual add once
        ops = ops[: len(ops) // 2]
    return sum(r.timing.device_s for r in ops if r.timing is not None)


def vidur(path: Path) -> list[Row]:
    rows = list(csv.DictReader(path.open()))
    out: list[Row] = []
    cache: dict[tuple[str, int, int, str], tuple[roofscope.Report, roofscope.Report]] = {}
    for row in rows:
        device, tp, tokens = row["device"], int(row["tp"]), int(row["num_tokens"])
        key = (device, tp, tokens, row["dtype"])
        if key not in cache:
            with torch.device("meta"):
                block = Block(tokens, tp).half().eval()
            ids = roofscope.TensorSpec((tokens,), torch.long, 0, 32768 // tp)
            eager = roofscope.analyze(block, [ids], device=DEVICES[device], mode="eager", tf32=False)
            compiled = roofscope.analyze(block, [ids], device=DEVICES[device], mode="compiled", tf32=False)
            cache[key] = (eager, compiled)
        eager, compiled = cache[key]
        for op in VIDUR_OPS:
            measured = float(row[f"{op}_median_ms"]) / 1e3
            if measured <= 0:
                continue
            fused = op in ("attn_rope", "mlp_act")  # sarathi runs each as one fused kernel
            report = compiled if fused else eager
            out.append(Row(path.name, f"{device} tp{tp} T={tokens} {op}", _device_time(report, op, fused=fused), measured))
    return out


class MatMul(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


class Softmax(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=-1)


class LayerNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.layer_norm(x, [x.shape[-1]])


class Gelu(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.gelu(x, approximate="tanh")


def _meta(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="meta")


def _one_op(model: nn.Module, inputs: list[torch.Tensor], kind: str) -> float:
    report = roofscope.analyze(model, inputs, device="a100-80gb", mode="eager", tf32=False)
    device = sum(r.timing.device_s for r in report.ops if r.timing is not None)
    return device + LLMCOMPASS_OVERHEAD_S[kind]


def llmcompass(path: Path) -> list[Row]:
    kind = path.stem.removeprefix("llmcompass_a100_")
    out = []
    for row in csv.DictReader(path.open()):
        if kind == "matmul":
            m, n, k = int(row["m"]), int(row["n"]), int(row["k"])
            inputs = [_meta((m, k), torch.bfloat16), _meta((k, n), torch.bfloat16)]
            predicted = _one_op(MatMul(), inputs, kind)
            out.append(Row(path.name, f"{m}x{n}x{k}", predicted, float(row["latency_ms"]) / 1e3))
            continue
        if kind == "gelu":
            shape: tuple[int, ...] = (int(row["elements"]),)
        else:
            shape = (int(row["m"]), int(row["n"]))
        model = {"softmax": Softmax, "layernorm": LayerNorm, "gelu": Gelu}[kind]()
        predicted = _one_op(model, [_meta(shape, torch.float16)], kind)
        out.append(Row(path.name, "x".join(map(str, shape)), predicted, float(row["latency_us"]) / 1e6))
    return out


READERS: dict[str, Callable[[Path], list[Row]]] = {"vidur": vidur, "llmcompass": llmcompass}


def summary(rows: Iterable[Row]) -> tuple[int, float, float, float]:
    errors = [abs(r.error) for r in rows]
    ratios = [r.predicted_s / r.measured_s - 1 for r in rows]
    return len(errors), statistics.median(errors), max(errors), statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "reference" / "measured")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "prediction.md")
    parser.add_argument("--worst", type=int, default=8, help="rows with the largest error to list per file")
    args = parser.parse_args(argv)
    files = sorted(args.data.glob("*.csv"))
    if not files:
        print(f"no CSV files in {args.data}", file=sys.stderr)
        return 2
    lines = [
        "# Predicted vs measured: published per-op GPU timings",
        "",
        "`.venv/bin/python bench/prediction.py` (every CSV of the reference data; no constant fitted to them).",
        "",
        "| file | rows | median abs error | max abs error | bias (median of predicted/measured - 1) |",
        "|---|---:|---:|---:|---:|",
    ]
    details: list[str] = []
    everything: list[Row] = []
    for path in files:
        reader = READERS[path.stem.split("_", 1)[0]]
        print(f"{path.name} ...", file=sys.stderr)
        rows = reader(path)
        everything += rows
        count, median, worst, bias = summary(rows)
        lines.append(f"| `{path.name}` | {count} | {100 * median:.1f}% | {100 * worst:.1f}% | {100 * bias:+.1f}% |")
        details += [
            f"## `{path.name}`: the {args.worst} largest errors",
            "",
            "| row | predicted | measured | error |",
            "|---|---:|---:|---:|",
        ]
        for row in sorted(rows, key=lambda r: -abs(r.error))[: args.worst]:
            details.append(f"| {row.label} | {row.predicted_s * 1e6:.1f} us | {row.measured_s * 1e6:.1f} us | {100 * row.error:+.1f}% |")
        details.append("")
    count, median, worst, bias = summary(everything)
    lines.append(f"| all | {count} | {100 * median:.1f}% | {100 * worst:.1f}% | {100 * bias:+.1f}% |")
    within = sum(abs(r.error) <= 0.40 for r in everything)
    lines += ["", f"Rows within 40%: {within} of {count} ({100 * within / count:.1f}%).", "", *details]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
