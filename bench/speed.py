"""Speed benchmark: how long roofscope.analyze takes, against a bare forward and against peer counters.

Run from the repository root:  python bench/speed.py [--repeats N] [--models resnet50,vit_b_16,gpt2]

For each model (torchvision resnet50 and vit_b_16, and a GPT-2-small shaped model built here) and each
device (meta: the model built under ``torch.device("meta")``; cpu: real tensors) it times

  - a bare forward under ``torch.no_grad()``,
  - ``roofscope.analyze``,
  - ``torch.utils.flop_counter.FlopCounterMode`` around the forward,
  - on cpu only: fvcore ``FlopCountAnalysis(...).total()``, ptflops ``get_model_complexity_info`` (each
    backend it supports) and ``thop.profile``.

Every tool gets a fresh ``copy.deepcopy`` of the model, made (and its garbage collected) outside the
timed region, and runs are
interleaved (one round = one run of every tool) so that load from other processes spreads evenly.
The medians are printed and written to ``bench/results/speed-<host>.md``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import gc
import math
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import roofscope

TARGET_RATIO = 1.3  # the goal: analyze costs at most 1.3x a bare forward

# ----------------------------------------------------------------------------------------------------
# Models


class _Block(nn.Module):
    def __init__(self, d_model: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln_2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, hidden)
        self.fc_out = nn.Linear(hidden, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, d_model = x.shape
        q, k, v = self.qkv(self.ln_1(x)).split(d_model, dim=-1)
        q, k, v = (t.view(batch, seq, self.heads, d_model // self.heads).transpose(1, 2) for t in (q, k, v))
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(attended.transpose(1, 2).reshape(batch, seq, d_model))
        return x + self.fc_out(F.gelu(self.fc(self.ln_2(x))))


class GPT2Small(nn.Module):
    """GPT-2 small's shape: 12 blocks, d_model 768, 12 heads, MLP 3072, tied 50257 x 768 embedding."""

    def __init__(self, vocab: int = 50257, context: int = 1024, d_model: int = 768, layers: int = 12, heads: int = 12) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d_model)
        self.wpe = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, heads, 4 * d_model) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(positions)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    build: Callable[[], nn.Module]
    make_input: Callable[[torch.device], torch.Tensor]
    input_res: tuple[int, ...]  # what ptflops is given (without the batch dimension)


def _image(device: torch.device) -> torch.Tensor:
    return torch.randn(1, 3, 224, 224, device=device)


def _tokens(device: torch.device) -> torch.Tensor:
    return torch.randint(0, 50257, (1, 128), device=device)


def _torchvision(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return torchvision.models.get_model(name, weights=None)

    return build


WORKLOADS = {
    "resnet50": Workload("resnet50", _torchvision("resnet50"), _image, (3, 224, 224)),
    "vit_b_16": Workload("vit_b_16", _torchvision("vit_b_16"), _image, (3, 224, 224)),
    "gpt2": Workload("gpt2", GPT2Small, _tokens, (128,)),
}

# ----------------------------------------------------------------------------------------------------
# Tools: each takes a fresh model and its input and does one full analysis (or one forward).


def _bare(model: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        model(x)


def _roofscope(model: nn.Module, x: torch.Tensor) -> None:
    roofscope.analyze(model, x)


def _flop_counter(model: nn.Module, x: torch.Tensor) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    counter.get_total_flops()


def _fvcore(model: nn.Module, x: torch.Tensor) -> None:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, (x,))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.total()


def _ptflops(backend: str) -> Callable[[nn.Module, torch.Tensor], None]:
    def run(model: nn.Module, x: torch.Tensor) -> None:
        from ptflops import get_model_complexity_info

        with open(os.devnull, "w") as sink:
            result = get_model_complexity_info(
                model,
                tuple(x.shape[1:]),
                as_strings=False,
                print_per_layer_stat=False,
                backend=backend,
                input_constructor=lambda _res: {_forward_arg(model): x},
                ost=sink,
            )
        if result[0] is None:
            raise RuntimeError(f"ptflops ({backend}) returned no count")

    return run


def _forward_arg(model: nn.Module) -> str:
    import inspect

    return next(iter(inspect.signature(model.forward).parameters))


def _thop(model: nn.Module, x: torch.Tensor) -> None:
    import thop

    thop.profile(model, inputs=(x,), verbose=False)


def _ptflops_backends() -> list[str]:
    try:
        import inspect

        from ptflops import get_model_complexity_info
    except ImportError:
        return ["pytorch"]
    if "backend" not in inspect.signature(get_model_complexity_info).parameters:
        return ["pytorch"]
    return ["pytorch", "aten"]


def tools_for(device: str) -> dict[str, Callable[[nn.Module, torch.Tensor], None]]:
    tools: dict[str, Callable[[nn.Module, torch.Tensor], None]] = {
        "bare forward": _bare,
        "roofscope": _roofscope,
        "FlopCounterMode": _flop_counter,
    }
    if device == "cpu":
        tools["fvcore"] = _fvcore
        for backend in _ptflops_backends():
            tools[f"ptflops[{backend}]"] = _ptflops(backend)
        tools["thop"] = _thop
    return tools


# ----------------------------------------------------------------------------------------------------
# Timing


@dataclasses.dataclass
class Row:
    model: str
    device: str
    times: dict[str, list[float]]
    failures: dict[str, str]

    def median(self, tool: str) -> float:
        return statistics.median(self.times[tool]) if self.times.get(tool) else math.nan

    def paired_ratio(self, tool: str, base: str = "bare forward") -> float:
        """The median over rounds of the tool's time over the base's in the same round: a round
        runs the tools one after the other, so a slow spell of a shared CPU slows both of the pair,
        where it moves a ratio of two separate medians."""
        pairs = list(zip(self.times.get(tool, []), self.times.get(base, [])))
        return statistics.median(ours / theirs for ours, theirs in pairs) if pairs else math.nan


def _build(workload: Workload, device: str) -> nn.Module:
    torch.manual_seed(0)
    with torch.device(device):
        return workload.build().eval()


def measure(workload: Workload, device: str, repeats: int) -> Row:
    model = _build(workload, device)
    x = workload.make_input(torch.device(device))
    tools = tools_for(device)
    row = Row(workload.name, device, {name: [] for name in tools}, {})
    for round_ in range(repeats + 1):  # round 0 warms up (imports, dispatch caches) and is not kept
        for name, tool in tools.items():
            if name in row.failures:
                continue
            fresh = copy.deepcopy(model)
            # Collected before the clock starts: the copy's garbage would otherwise be collected
            # inside whichever tool next allocates enough, and counted as its time.
            gc.collect()
            try:
                start = time.perf_counter()
                tool(fresh, x)
                elapsed = time.perf_counter() - start
            except Exception as error:  # a peer's failure is a result, not a crash of the benchmark
                reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
                row.failures[name] = f"failed: {type(error).__name__}: {reason[:120]}"
                continue
            if round_:
                row.times[name].append(elapsed)
        print(f"  {workload.name}/{device}: round {round_}/{repeats} done", file=sys.stderr, flush=True)
    return row


# ----------------------------------------------------------------------------------------------------
# Reporting


def _fmt_ratio(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


def table_lines(rows: list[Row]) -> list[str]:
    lines = [
        "| model | device | tool | median s | min-max s | vs bare forward | vs bare forward, paired | roofscope / tool |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        bare = row.median("bare forward")
        ours = row.median("roofscope")
        for tool in row.times:
            if tool in row.failures:
                lines.append(f"| {row.model} | {row.device} | {tool} | {row.failures[tool]} | | | | |")
                continue
            seconds = row.median(tool)
            spread = f"{min(row.times[tool]):.4f}-{max(row.times[tool]):.4f}"
            lines.append(
                f"| {row.model} | {row.device} | {tool} | {seconds:.4f} | {spread} | {_fmt_ratio(seconds / bare)} | "
                f"{_fmt_ratio(row.paired_ratio(tool))} | "
                f"{'' if tool in ('roofscope', 'bare forward') else _fmt_ratio(ours / seconds)} |"
            )
    return lines


def target_lines(rows: list[Row]) -> list[str]:
    lines = [
        f"| model | device | roofscope / bare forward (medians) | paired (median of rounds) | met (<= {TARGET_RATIO}x, paired)? |",
        "|---|---|---:|---:|---|",
    ]
    for row in rows:
        ratio = row.median("roofscope") / row.median("bare forward")
        paired = row.paired_ratio("roofscope")
        verdict = "yes" if paired <= TARGET_RATIO else "no"
        lines.append(f"| {row.model} | {row.device} | {ratio:.2f}x | {paired:.2f}x | {verdict} |")
    return lines


def write_markdown(rows: list[Row], repeats: int, command: str) -> Path:
    host = socket.gethostname() or "cpu"
    path = Path(__file__).resolve().parent / "results" / f"speed-{host}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = [
        f"# roofscope speed, {host}",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}",
        f"- CPU count: {os.cpu_count()} (torch threads: {torch.get_num_threads()})",
        f"- median of {repeats} interleaved runs after one warm-up round; every tool gets a fresh deepcopy of the model",
        "- the CPU is shared with other processes: compare a ratio with the min-max spread of its two times",
        '  before reading it as a verdict. "paired": the median over rounds of the two tools\' times in the',
        "  same round (one right after the other), which a slow spell of the CPU moves less",
        "",
        "## Times",
        "",
        *table_lines(rows),
        "",
        f"## Target: roofscope at most {TARGET_RATIO}x a bare forward",
        "",
        *target_lines(rows),
        "",
    ]
    path.write_text("\n".join(text))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per tool (default 5)")
    parser.add_argument("--models", default=",".join(WORKLOADS), help="comma-separated: " + ", ".join(WORKLOADS))
    parser.add_argument("--devices", default="meta,cpu", help="comma-separated: meta, cpu")
    options = parser.parse_args(argv)
    rows = [
        measure(WORKLOADS[name], device, options.repeats) for name in options.models.split(",") for device in options.devices.split(",")
    ]
    print("\n".join(table_lines(rows)))
    print()
    print("\n".join(target_lines(rows)))
    command = "python bench/speed.py" + (f" {' '.join(sys.argv[1:])}" if argv is None and sys.argv[1:] else "")
    print(f"\nwritten: {write_markdown(rows, options.repeats, command)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
