"""Wall time and peak memory of analysing llama-2-70b at 4096 tokens (prefill) in a fresh process.

    PYTHONPATH=src python bench/llm_speed.py [--runs 5] [--out bench/results/llm_speed-<host>.md]

Each run is a new Python process, so every import is paid again, as a user of the command line
pays it. Per run it records: importing torch alone (a separate process), the phases of one
process (import torch and roofscope, whose own import is lazy; transformers' own import and lazy model classes;
building the model on meta; the capture and report), its peak RSS, the import-time profile
(``python -X importtime``) summed per top-level package, and the command line end to end
(``roofscope llama-2-70b --seq 4096``, which adds the serving summary's decode step).
Each figure is reported as the minimum and the spread (max - min) over the runs: the machine is
shared, and the minimum is the least disturbed run.

The "no torchvision" rows hide torchvision from transformers (``find_spec("torchvision")`` returns
None): what a user without torchvision installed pays.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PHASES = r"""
import json, resource, sys, time
if "--no-torchvision" in sys.argv:
    import importlib.util
    _find_spec = importlib.util.find_spec
    importlib.util.find_spec = lambda name, *a, **k: None if name.split(".")[0] == "torchvision" else _find_spec(name, *a, **k)
    sys.modules["torchvision"] = None  # an import of it fails, as where it is not installed
def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
t0 = time.perf_counter()
import torch  # import roofscope alone is lazy: it imports torch on first use
import roofscope
t1 = time.perf_counter()
rss_torch = peak_mib()
import transformers
from transformers import LlamaConfig, LlamaForCausalLM  # transformers imports its model classes on first use
t2 = time.perf_counter()
rss_imports = peak_mib()
from roofscope.models.presets import PRESETS
from roofscope.models.transformers import build
model = build(PRESETS["llama-2-70b"])
t3 = time.perf_counter()
report = roofscope.analyze(model, {"input_ids": roofscope.TensorSpec((1, 4096), __import__("torch").long), "use_cache": True})
t4 = time.perf_counter()
print(json.dumps({
    "import roofscope (and torch)": t1 - t0,
    "import transformers and its Llama classes": t2 - t1,
    "build llama-2-70b on meta": t3 - t2,
    "capture + report": t4 - t3,
    "whole process after start": t4 - t0,
    "peak RSS after importing torch and roofscope, MiB": rss_torch,
    "peak RSS after importing transformers too, MiB": rss_imports,
    "peak RSS at the end, MiB": peak_mib(),
    "ops": len(report.ops),
    "macs": report.total.macs,
    "torchvision imported": "torchvision" in sys.modules and sys.modules["torchvision"] is not None,
}))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=_env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _phases(extra: list[str]) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", PHASES, *extra], env=_env(), check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _importtime() -> dict[str, float]:
    """Seconds of import per top-level package (self times summed), for the analysis process."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", PHASES], env=_env(), check=True, capture_output=True, text=True)
    totals: dict[str, float] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        top = name.strip().split(".")[0]
        totals[top] = totals.get(top, 0.0) + float(self_us) / 1e6
    return totals


def _summary(values: list[float]) -> str:
    return f"{min(values):.2f} s (spread {max(values) - min(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / f"llm_speed-{platform.node() or 'host'}.md"))
    args = parser.parse_args()

    torch_alone: list[float] = []
    phases: dict[str, list[float]] = {}
    phases_no_tv: dict[str, list[float]] = {}
    cli: list[float] = []
    facts: dict[str, object] = {}
    for run in range(args.runs):
        torch_alone.append(_wall([sys.executable, "-c", "import torch"]))
        for extra, into in (([], phases), (["--no-torchvision"], phases_no_tv)):
            measured = _phases(extra)
            for key, value in measured.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("ops", "macs"):
                    into.setdefault(key, []).append(float(value))
                else:
                    facts[f"{key}{' (no torchvision)' if extra else ''}"] = value
        cli.append(_wall([sys.executable, "-m", "roofscope", "llama-2-70b", "--seq", "4096", "--format", "json", "-o", os.devnull]))
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    imports = _importtime()
    heaviest = sorted(imports.items(), key=lambda item: -item[1])[:8]

    import torch
    import transformers

    analysis = min(phases["build llama-2-70b on meta"]) + min(phases["capture + report"])
    lines = [
        "# llama-2-70b analysis speed in a fresh process (bench/llm_speed.py)",
        "",
        f"`roofscope.analyze` of llama-2-70b, a prefill of 4096 tokens, built on the meta device "
        f"({facts['ops']} ops, {facts['macs']:.4e} MACs). Machine: {platform.node()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end; torch {torch.__version__}, transformers "
        f"{transformers.__version__}, Python {platform.python_version()}. {args.runs} runs; each figure is the "
        "minimum over the runs and, in brackets, the spread (max - min).",
        "",
        "| phase | with torchvision installed | without torchvision |",
        "|---|---|---|",
        f"| `python -c 'import torch'` (own process) | {_summary(torch_alone)} | same |",
    ]
    for key in phases:
        unit = (lambda v: f"{min(v):.0f} MiB (spread {max(v) - min(v):.0f})") if "MiB" in key else _summary
        lines.append(f"| {key} | {unit(phases[key])} | {unit(phases_no_tv[key])} |")
    lines += [
        f"| `roofscope llama-2-70b --seq 4096 --format json` (whole command, with the serving summary's decode step) | {_summary(cli)} | - |",
        "",
        f"torchvision imported by the analysis: {facts.get('torchvision imported')} (transformers' config classes import "
        "`transformers.utils.type_validators` -> `video_utils` -> `image_utils`, which imports torchvision when "
        f"it and Pillow are installed); without it: {facts.get('torchvision imported (no torchvision)')}.",
        "",
        "Notes:",
        "",
        f"- The analysis proper (build + capture + report) takes {analysis:.1f} s at best. The rest of a fresh process is",
        f"  imports: torch ({min(torch_alone):.1f} s in a process of its own), then transformers' config and model classes",
        f"  ({min(phases['import transformers and its Llama classes']):.1f} s), whose import chain (activations -> hub_kernels ->",
        "  flash_attention -> continuous_batching; conversion_mapping -> core_model_loading -> distributed) pulls in",
        "  torch submodules (torch.distributed, the compiler stack with sympy and triton) and, where installed,",
        "  torchvision. roofscope imports transformers only when a preset is built (`import roofscope` and",
        f"  `roofscope --help` do not), and its own modules take {imports.get('roofscope', 0.0):.2f} s to import; the rest",
        "  is torch's and transformers' own import time, which roofscope cannot defer further.",
        f"- Peak RSS is the libraries': {min(phases['peak RSS after importing torch and roofscope, MiB']):.0f} MiB after importing torch (a",
        f"  {'CUDA' if torch.version.cuda else 'CPU'} build) and roofscope, {min(phases['peak RSS after importing transformers too, MiB']):.0f} MiB with transformers, "
        f"{min(phases['peak RSS at the end, MiB']):.0f} MiB at the end: the",
        "  analysis itself adds little, since meta tensors hold no data.",
        "- The command line adds the serving summary's decode step (a second capture of every layer), the JSON",
        "  of each op record and the terminal report.",
        "",
        "Import time of the analysis process by top-level package (`-X importtime`, self times summed, one run):",
        "",
        "| package | seconds |",
        "|---|---|",
        *[f"| {name} | {seconds:.2f} |" for name, seconds in heaviest],
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
