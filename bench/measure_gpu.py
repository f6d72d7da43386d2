"""Predicted vs measured on real hardware, in one command.

On a machine with a GPU, from the repository root:

    python bench/measure_gpu.py                 # CUDA: probe, then resnet50 and vit_b_16 at batch 1 and 64 in bf16
    python bench/measure_gpu.py --device cpu    # the CPU variant (fp32, batch 1 and 8 by default)
    python bench/measure_gpu.py --device cpu --threads 1   # steadier on a shared machine

It writes ``bench/results/measure-<cuda|cpu>-<host>.md`` (and the probe's device file and a roofline
chart with the measured points beside it) with:

1. ``roofscope.probe``: this machine's GEMM rate per precision, copy bandwidth and launch floor,
   beside the catalog's datasheet figures and, on an H100 SXM, beside the reference measurements of
   docs/measurements.md ("H100 80GB HBM3 (SXM): ceilings"): each probed figure within 5% of the
   nearer reference run (or between the two) passes.
2. For each model and batch: the whole-model time **predicted from the datasheet** (the GPU's catalog
   entry), **predicted from the probed ceilings**, and **measured** (median of plain forwards), with
   the sum of the per-op times, how much of the forward they cover (must be within 10%), what timing
   each op costs (timed forward / plain forward), achieved FLOP/s, utilization of the probed peak
   and roofline efficiency.
3. The per-op check: of the ops that take more than 20 us, the share whose measured time is at least
   their time predicted with the probed ceilings (goal: 95%); the exceptions are listed.
4. Where the time goes: measured time per op family, and the ops furthest below their roof.

Nothing here is faked on a machine without the hardware: ``--device cuda`` without a GPU stops with
an error, and the CPU variant says it is one.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any

import torch

import roofscope
from roofscope.devices import catalog_match, figure_value
from roofscope.render.units import percent, seconds, si

RESULTS = Path(__file__).resolve().parent / "results"

# docs/measurements.md, "H100 80GB HBM3 (SXM): ceilings" (torch 2.11 + CUDA 13,
# 8192^3 GEMMs on random data, CUDA events": (run A, run B) per figure, in FLOP/s, B/s or s.
H100_REFERENCE: dict[str, tuple[float, ...]] = {
    "matrix.bf16": (767e12, 787e12),
    "matrix.fp16": (730e12, 756e12),
    "matrix.tf32": (364e12, 382e12),
    "vector.fp32": (51e12, 52e12),
    "matrix.fp8": (944e12, 1425e12),
    "memory_bandwidth": (2842e9, 3010e9),
    "launch_overhead": (11.2e-6,),
}
REFERENCE_TOLERANCE = 0.05
COVERAGE_TOLERANCE = 0.10  # the per-op sum within 10% of a plain forward
LONG_OP_S = 20e-6  # the per-op check covers ops that take more than this
LONG_OP_GOAL = 0.95


def reference_verdict(figure: str, value: float | None) -> tuple[str, bool | None]:
    """How a probed figure compares with the H100 reference: text, and pass (None: no reference)."""
    runs = H100_REFERENCE.get(figure)
    if runs is None or value is None:
        return "-", None
    low, high = min(runs), max(runs)
    if low <= value <= high:
        return f"between {_fmt(figure, low)} and {_fmt(figure, high)}", True
    nearest = low if abs(value - low) < abs(value - high) else high
    off = value / nearest - 1
    return f"{off:+.1%} from {_fmt(figure, nearest)}", abs(off) <= REFERENCE_TOLERANCE


def _fmt(figure: str, value: float | None) -> str:
    if value is None:
        return "-"
    if figure == "memory_bandwidth":
        return f"{value / 1e9:,.0f} GB/s"
    if figure == "launch_overhead":
        return f"{value * 1e6:.2f} us"
    return f"{value / 1e12:,.4g} TFLOP/s" if value >= 1e11 else f"{value / 1e9:,.4g} GFLOP/s"


def build(name: str, batch: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.nn.Module, torch.Tensor]:
    import torchvision

    model = torchvision.models.get_model(name, weights=None).eval().to(device=device, dtype=dtype)
    generator = torch.Generator(device=device)
    generator.manual_seed(0)
    images = torch.randn(batch, 3, 224, 224, device=device, dtype=dtype, generator=generator)
    return model, images


def long_op_check(report: roofscope.Report) -> tuple[int, int, list[Any]]:
    """(ops over LONG_OP_S with a prediction, how many measured >= predicted, the exceptions)."""
    long_ops = [r for r in report.ops if r.measured is not None and r.timing is not None and r.measured.measured_s > LONG_OP_S]
    below = [r for r in long_ops if r.measured.measured_s < r.timing.predicted_s]
    return len(long_ops), len(long_ops) - len(below), below


def by_family(report: roofscope.Report) -> dict[str, float]:
    families: dict[str, float] = {}
    for record in report.ops:
        if record.measured is not None:
            families[record.family] = families.get(record.family, 0.0) + record.measured.measured_s
    return dict(sorted(families.items(), key=lambda item: -item[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--models", default="resnet50,vit_b_16")
    parser.add_argument("--batches", help="default 1,64 on CUDA, 1,8 on CPU")
    parser.add_argument("--dtype", help="bf16 (CUDA default), fp16 or fp32 (CPU default)")
    parser.add_argument("--repeats", type=int, help="timed forwards per model (default 30 on CUDA, 5 on CPU)")
    parser.add_argument("--warmup", type=int, help="untimed forwards first (default 5 on CUDA, 2 on CPU)")
    parser.add_argument("--probe-repeats", type=int, help="runs per probed figure (default 20 on CUDA, 5 on CPU)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's); 1 steadies the times on a shared machine")
    parser.add_argument("--output", help="the Markdown file (default bench/results/measure-<device>-<host>.md)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        print("measure_gpu.py: no CUDA device on this machine; run the CPU variant with --device cpu", file=sys.stderr)
        return 2
    if cuda and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype or ("bf16" if cuda else "fp32")]
    dtype_name = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}[dtype]
    batches = [int(b) for b in (args.batches or ("1,64" if cuda else "1,8")).split(",")]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    repeats = args.repeats or (30 if cuda else 5)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 2)
    host = socket.gethostname()
    RESULTS.mkdir(exist_ok=True)
    output = Path(args.output) if args.output else RESULTS / f"measure-{device.type}-{host}.md"
    started = time.time()

    # 1. The probe --------------------------------------------------------------------------------
    print(f"probing {device} ...", file=sys.stderr)
    probe = roofscope.probe(device, repeats=args.probe_repeats or (20 if cuda else 5), warmup=3 if cuda else 1)
    probe_file = RESULTS / f"probe-{device.type}-{host}.toml"
    probe.save(probe_file)
    probed = roofscope.get_device(probe_file)
    catalog_key = catalog_match(probe.name) if cuda else None
    datasheet = roofscope.get_device(catalog_key) if catalog_key else None
    is_h100 = catalog_key == "h100-sxm"

    lines = [
        f"# roofscope: predicted vs measured, {probe.name}",
        "",
        f"- command: `python bench/measure_gpu.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}; host {host}",
        f"- torch {torch.__version__}"
        + (f", CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}" if cuda else "")
        + f", python {platform.python_version()}, {platform.machine()}",
        f"- device: {device} ({probe.name}); catalog entry: {catalog_key or 'none (no datasheet figures for this machine)'}",
        f"- probe file: `{probe_file.relative_to(RESULTS.parent.parent)}` (median of {probe.repeats} runs per figure)",
        (
            f"- models: {', '.join(models)}, eval mode, random weights, batch {', '.join(map(str, batches))}, {dtype_name}; "
            f"measure: {warmup} warm-up, then {repeats} rounds of a plain forward and a per-op-timed forward"
        ),
    ]
    if not cuda:
        threads = torch.get_num_threads()
        lines.append(
            f"- **CPU variant** ({threads} thread{'' if threads == 1 else 's'} for torch, of {os.cpu_count()} CPUs). The GPU checks need a GPU; this run exercises the same "
            "code on the CPU. The machine is shared with other jobs: its times are noisy, read the min-max spreads. The probe "
            "and each model run minutes apart under different loads, so a model can beat a ceiling probed at a busier moment "
            "(efficiency above 100%, ops faster than their probed roof)."
        )
    lines += ["", "## 1. Probed ceilings", ""]
    header = "| ceiling | probed | min - max | datasheet | probed / datasheet |"
    rule = "|---|---:|---:|---:|---:|"
    if is_h100:
        header += " H100 reference (runs A, B) | within 5% |"
        rule += "---:|---|"
    lines += [header, rule]
    reference_ok = []
    for item in probe.figures:
        listed = None
        if datasheet is not None:
            listed = figure_value(datasheet, item.figure)
        spread = item.spread
        cells = [
            f"`{item.figure}`",
            _fmt(item.figure, item.value) if item.value is not None else f"not measured: {item.error}",
            f"{_fmt(item.figure, spread[0])} - {_fmt(item.figure, spread[1])}" if spread else "-",
            _fmt(item.figure, listed),
            f"{item.value / listed:.2f}" if item.value and listed else "-",
        ]
        if is_h100:
            text, ok = reference_verdict(item.figure, item.value)
            runs = H100_REFERENCE.get(item.figure)
            cells += [
                ", ".join(_fmt(item.figure, r) for r in runs) if runs else "-",
                "-" if ok is None else f"{'yes' if ok else 'NO'}: {text}",
            ]
            if ok is not None and item.figure != "launch_overhead":
                reference_ok.append(ok)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "How each figure was measured:", ""]
    lines += [f"- `{item.figure}`: {item.error or item.how}" for item in probe.figures]
    if is_h100:
        lines += [
            "",
            (
                f"GEMM and copy figures within 5% of the reference: {sum(reference_ok)} of {len(reference_ok)}. "
                'The launch floor is a different measurement from the reference\'s (see docs/conventions.md, "Probe") and is shown, not judged.'
            ),
        ]

    # 2-4. The models ------------------------------------------------------------------------------
    summary = [
        "",
        "## 2. Whole model: predicted (datasheet, probed) and measured",
        "",
        (
            "| model | batch | predicted, datasheet | predicted, probed | measured forward (min - max) | sum of ops | ops / forward "
            "| timed / plain forward | achieved | utilization (probed peak) | efficiency (probed) | ops > 20 us: measured >= predicted |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    details: list[str] = []
    checks: list[tuple[str, bool]] = []
    for name in models:
        for batch in batches:
            print(f"{name} batch {batch} {dtype_name} ...", file=sys.stderr)
            model, images = build(name, batch, dtype, device)
            predicted_datasheet = roofscope.analyze(model, images, device=datasheet).total.predicted_s if datasheet else None
            report = roofscope.measure(
                model, images, device=device, roofline=probed, repeats=repeats, warmup=warmup, name=f"{name} batch {batch} {dtype_name}"
            )
            run = report.measurement
            assert run is not None
            total = report.total
            count, at_or_above, below = long_op_check(report)
            share = at_or_above / count if count else None
            coverage_ok = run.coverage is not None and abs(run.coverage - 1) <= COVERAGE_TOLERANCE
            checks.append((f"{name} b{batch}: ops within 10% of the forward", coverage_ok))
            if share is not None:
                checks.append((f"{name} b{batch}: >= 95% of ops over 20 us at or above their probed roof", share >= LONG_OP_GOAL))
            summary.append(
                f"| {name} | {batch} | {seconds(predicted_datasheet) if predicted_datasheet else '-'} | {seconds(total.predicted_s or 0)} "
                f"| {seconds(run.forward_s)} ({seconds(run.forward_min_s)} - {seconds(run.forward_max_s)}) "
                f"| {seconds(run.ops_s) if run.ops_s is not None else 'not matched'} | {percent(run.coverage)} | {run.overhead:.2f}x "
                f"| {si(run.achieved_flops)}FLOP/s | {percent(run.utilization)} of {run.peak_label or '-'} | {percent(total.efficiency)} "
                f"| {at_or_above} of {count} ({percent(share)}) |"
            )
            details += ["", f"### {name}, batch {batch}, {dtype_name}", ""]
            if run.note:
                details += [f"Note: {run.note}", ""]
            details += ["Measured time per op family:", "", "| family | measured | share |", "|---|---:|---:|"]
            whole = total.measured_s or 0.0
            details += [f"| {family} | {seconds(t)} | {percent(t / whole if whole else None)} |" for family, t in by_family(report).items()]
            details += [
                "",
                "Furthest below their roof (probed ceilings):",
                "",
                "| op | module | predicted | measured | efficiency | utilization | bound |",
                "|---|---|---:|---:|---:|---:|---|",
            ]
            for record in report.shortfalls(limit=8):
                details.append(
                    f"| `{record.name}` | {record.module or '(model)'} | {seconds(record.timing.predicted_s)} | {seconds(record.measured.measured_s)} "
                    f"| {percent(record.measured.efficiency)} | {percent(record.measured.utilization)} | {record.timing.bound} |"
                )
            if below:
                details += ["", f"Ops over 20 us measured faster than their probed roof ({len(below)}):", ""]
                details += [
                    f"- `{r.name}` @ {r.module or '(model)'}: predicted {seconds(r.timing.predicted_s)}, measured {seconds(r.measured.measured_s)} "
                    f"({r.timing.bound}-bound, {r.timing.peak_label})"
                    for r in below[:10]
                ]
            chart = RESULTS / f"roofline-measured-{name}-b{batch}-{device.type}.png"
            if name == models[0] and batch == batches[-1]:
                try:
                    report.plot_roofline(chart)
                    details += ["", f"![{name} batch {batch}, predicted and measured]({chart.name})"]
                except ImportError:
                    pass
            del model, images, report
            if cuda:
                torch.cuda.empty_cache()
    lines += summary
    lines += [
        "",
        (
            "Predicted: the roofline sum over ops (datasheet: the catalog entry; probed: this machine's probe file, launch floor included). "
            "Measured forward: median of plain forwards (CUDA events / perf_counter). Sum of ops: the per-op medians under the timer; "
            "ops / forward is how much of the forward they account for; timed / plain is what timing each op costs. "
            "Utilization: achieved FLOP/s (model FLOPs / measured forward) over the highest probed peak among the ops. "
            "Efficiency: predicted (probed) / measured, summed over the ops."
        ),
        "",
        "## Checks",
        "",
    ]
    lines += [f"- {'pass' if ok else 'FAIL'}: {text}" for text, ok in checks]
    if is_h100:
        lines.append(f"- {'pass' if all(reference_ok) else 'FAIL'}: probed GEMM and copy figures within 5% of the H100 reference")
    lines += ["", "## 3-4. Per model", *details, "", f"_Took {time.time() - started:.0f} s._", ""]
    output.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
