"""Compiled-mode bytes: roofscope's estimate against torch.compile's inductor, on this CPU.

Run from the repository root:  python bench/compiled_bytes.py [--models resnet18,mobilenet_v2,...]

For each model (batch 1, fp32, eval, real tensors on the CPU): roofscope's compiled-mode bytes
(``analyze(model, x, device="h100", mode="compiled").total.timing.bytes``: the fused kernels'
traffic, estimated without compiling; the device does not change the bytes) and inductor's own
count for the same forward (``roofscope.measurement.inductor.inductor_bytes``: every kernel of the
compiled graph, its buffers read and written), with the difference. Also the eager (unfused)
bytes, for scale. Prints a table and writes ``bench/results/compiled-bytes.md``. Each compile
takes a minute or more.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

import roofscope
from roofscope.measurement.inductor import inductor_bytes
from speed import GPT2Small  # the GPT-2-small shaped model of the speed benchmark

GOAL = 0.15  # |estimate - inductor| / inductor


def _vision(name: str) -> tuple[Callable[[], nn.Module], Callable[[], torch.Tensor]]:
    return (lambda: getattr(torchvision.models, name)(weights=None)), (lambda: torch.randn(1, 3, 224, 224))


MODELS: dict[str, tuple[Callable[[], nn.Module], Callable[[], torch.Tensor]]] = {
    "resnet18": _vision("resnet18"),
    "resnet50": _vision("resnet50"),
    "mobilenet_v2": _vision("mobilenet_v2"),
    "efficientnet_b0": _vision("efficientnet_b0"),
    "convnext_tiny": _vision("convnext_tiny"),
    "vit_b_16": _vision("vit_b_16"),
    "gpt2 (seq 128)": (GPT2Small, lambda: torch.zeros(1, 128, dtype=torch.long)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated, of: " + ", ".join(MODELS))
    args = parser.parse_args()
    names = [name.strip() for name in args.models.split(",")]
    rows = []
    for position, name in enumerate(names, 1):
        build, make_input = MODELS[name]
        torch.manual_seed(0)
        model, x = build().eval(), make_input()
        report = roofscope.analyze(model, x, device="h100", mode="compiled")
        assert report.total.timing is not None
        print(f"[{position}/{len(names)}] {name}: compiling with inductor ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        counted = inductor_bytes(model, x)
        estimate = report.total.timing.bytes
        rows.append((name, report.total.cost.bytes, estimate, counted.bytes, counted.kernels, counted.difference(estimate)))
        print(f"    {counted.bytes:,} bytes over {counted.kernels} kernels ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    lines = [
        f"# Compiled-mode bytes against inductor ({datetime.date.today()}, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__})",
        "",
        "`python bench/compiled_bytes.py`: batch 1, fp32, CPU. Goal: |difference| <= 15%.",
        "",
        "| model | eager bytes | roofscope compiled | inductor | inductor kernels | difference | within 15%? |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, eager, estimate, counted_bytes, kernels, difference in rows:
        met = "yes" if abs(difference) <= GOAL else "no"
        lines.append(f"| {name} | {eager:,} | {estimate:,} | {counted_bytes:,} | {kernels} | {difference:+.1%} | {met} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).parent / "results" / "compiled-bytes.md"
    out.write_text(text)
    print(f"written: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
