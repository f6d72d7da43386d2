"""Predicted against measured on this machine's CPU: a zoo of models at batch 1, 8 and 32, eager.

    .venv/bin/python bench/prediction_cpu.py [--probe FILE] [--batches 1,8,32] [--repeats 3] [--threads N]

1. ``roofscope.probe("cpu")`` with its curves (GEMM, convolution and LSTM grids, bandwidth per op family and size, host
   costs), saved as ``bench/results/cpu-probe.toml`` (or ``--probe FILE`` reuses a saved one);
2. for each model and batch: the predicted time of a plain forward (``roofscope.analyze`` on the
   meta device, ``device=`` the probe file, eager mode) against the measured one
   (``roofscope.measure``: the median of plain forwards on the CPU);
3. the median and largest |predicted - measured| / measured, and the bias.

Each model and batch runs in a process of its own, as a user's script would: the allocator's state
(glibc's malloc thresholds, which decide which outputs take fresh pages) then depends on that model
alone, not on the models measured before it.

Nothing is fitted to the models: the prediction reads only the probe's microbenchmarks. A shared
machine measures noisily: ``--threads 1`` and an idle machine give steadier figures.
Results: ``bench/results/prediction-cpu.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import roofscope
from roofscope.render.units import seconds

RESULTS = Path(__file__).resolve().parent / "results"


def _torchvision(name: str) -> Callable[[int], tuple[nn.Module, Any]]:
    def build(batch: int) -> tuple[nn.Module, Any]:
        import torchvision

        return torchvision.models.get_model(name, weights=None).eval(), (batch, 3, 224, 224)

    return build


def _transformer(preset: str, seq: int = 128) -> Callable[[int], tuple[nn.Module, Any]]:
    def build(batch: int) -> tuple[nn.Module, Any]:
        import transformers

        from roofscope.models.presets import lookup
        from roofscope.models.transformers import build_options, make_config

        found = lookup(preset)
        assert found is not None
        config = make_config(found)
        auto = transformers.AutoModelForCausalLM if found.head == "causal-lm" else transformers.AutoModel
        torch.manual_seed(0)
        model = auto.from_config(config, dtype=torch.float32, **build_options(config)).eval()
        return model, {"input_ids": roofscope.TensorSpec((batch, seq), torch.long, 0, int(config.vocab_size))}

    return build


def _small_llama(batch: int) -> tuple[nn.Module, Any]:
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=8000, hidden_size=512, intermediate_size=1376, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="sdpa").eval()
    return model, {"input_ids": roofscope.TensorSpec((batch, 128), torch.long, 0, 8000)}


class Recurrent(nn.Module):
    """A two-layer LSTM over 64 steps of 256 features, its last state through a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(256, 512, num_layers=2, batch_first=True)
        self.head = nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


ZOO: dict[str, Callable[[int], tuple[nn.Module, Any]]] = {
    "resnet18": _torchvision("resnet18"),
    "resnet50": _torchvision("resnet50"),
    "mobilenet_v2": _torchvision("mobilenet_v2"),
    "efficientnet_b0": _torchvision("efficientnet_b0"),
    "convnext_tiny": _torchvision("convnext_tiny"),
    "vit_b_16": _torchvision("vit_b_16"),
    "bert-base": _transformer("bert-base"),
    "gpt2": _transformer("gpt2"),
    "llama (4 layers, 512 wide)": _small_llama,
    "lstm (2 x 512)": lambda batch: (Recurrent().eval(), (batch, 64, 256)),
}


def _row(name: str, batch: int, device: roofscope.Device, repeats: int) -> dict[str, Any]:
    """One model at one batch: its predicted time and terms, and its measured forward."""
    model, inputs = ZOO[name](batch)
    predicted = roofscope.analyze(model, inputs, device=device, mode="eager", fake=True)
    measured = roofscope.measure(model, inputs, device="cpu", roofline=device, repeats=repeats, warmup=1)
    run, timing = measured.measurement, predicted.total.timing
    assert run is not None and timing is not None
    return {
        "predicted_s": timing.predicted_s,
        "roofline_s": timing.roofline_s,
        "efficiency_s": timing.efficiency_s,
        "host_s": timing.host_s,
        "bound": timing.bound,
        "measured_s": run.forward_s,
        "min_s": run.forward_min_s,
        "max_s": run.forward_max_s,
        "uncounted": dict(predicted.uncounted),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probe", type=Path, help="a device file from roofscope probe cpu (default: probe now)")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--models", help="a comma-separated subset of the zoo")
    parser.add_argument("--out", type=Path, default=RESULTS / "prediction-cpu.md")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # one MODEL:BATCH, in this process: its figures as JSON
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.row:
        name, batch = args.row.rsplit(":", 1)
        print(json.dumps(_row(name, int(batch), roofscope.get_device(args.probe), args.repeats)))
        return 0
    RESULTS.mkdir(exist_ok=True)
    probe_path = args.probe
    if probe_path is None:
        print("probing the CPU (a few minutes) ...", file=sys.stderr)
        started = time.perf_counter()
        result = roofscope.probe(
            "cpu", dtypes=["fp32"], repeats=5, progress=lambda step, done, total: print(f"  {step} ({done}/{total})", file=sys.stderr)
        )
        probe_path = result.save(RESULTS / "cpu-probe.toml")
        print(f"  {time.perf_counter() - started:.0f} s", file=sys.stderr)
    device = roofscope.get_device(probe_path)
    batches = [int(b) for b in args.batches.split(",")]
    names = args.models.split(",") if args.models else list(ZOO)
    rows = []
    for name in names:
        for batch in batches:
            print(f"{name} batch {batch} ...", file=sys.stderr)
            command = [sys.executable, __file__, "--probe", str(probe_path), "--row", f"{name}:{batch}", "--repeats", str(args.repeats)]
            if args.threads:
                command += ["--threads", str(args.threads)]
            row = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            rows.append((name, batch, row))
    errors = [abs(row["predicted_s"] - row["measured_s"]) / row["measured_s"] for _, _, row in rows]
    bias = statistics.median(row["predicted_s"] / row["measured_s"] - 1 for _, _, row in rows)
    lines = [
        "# Predicted vs measured on this CPU",
        "",
        f"`.venv/bin/python bench/prediction_cpu.py` on {device.name}, torch {torch.__version__}, {torch.get_num_threads()} threads;",
        f"probe: `{probe_path.name}`. Eager, fp32; predicted: roofscope.analyze (fake tensors), measured: the median of "
        f"{args.repeats} plain forwards (roofscope.measure).",
        "",
        f"**median |error| {100 * statistics.median(errors):.1f}%, max {100 * max(errors):.1f}%, bias {100 * bias:+.1f}%** over {len(rows)} runs.",
        "",
        "| model | batch | predicted | = roofline + efficiency + host | bound | measured (min-max) | error |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    for name, batch, row in rows:
        predicted, forward = row["predicted_s"], row["measured_s"]
        lines.append(
            f"| {name} | {batch} | {seconds(predicted)} | {seconds(row['roofline_s'])} + {seconds(row['efficiency_s'])} + "
            f"{seconds(row['host_s'])} | {row['bound']} | {seconds(forward)} ({seconds(row['min_s'])}-{seconds(row['max_s'])}) "
            f"| {100 * (predicted - forward) / forward:+.1f}% |"
        )
    uncounted = {name: row["uncounted"] for name, _, row in rows if row["uncounted"]}
    if uncounted:
        lines += ["", "Uncounted ops (no formula, no prediction): " + "; ".join(f"{n}: {dict(u)}" for n, u in uncounted.items())]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
