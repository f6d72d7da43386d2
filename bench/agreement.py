"""Agreement of roofscope's MAC counts with the peer tools, on a zoo of models.

    PYTHONPATH=src .venv/bin/python bench/agreement.py [--out docs/agreement.md] [--quick]

Peers: thop, ptflops (pytorch and aten backends), fvcore, torchprofile, torch's FlopCounterMode
(its FLOPs / 2) and calflops (its MACs). Each runs on real CPU tensors, batch 1, random weights,
in eval mode; each in try/except, its failure recorded. For every peer that differs from
roofscope by more than 0.1%, the difference is explained by a combination of roofscope's own
per-family figures (report.by_family()): a deficit matching a MAC family a peer does not see, an
excess matching the FLOPs or elements of the non-MAC families (norm, pointwise, pooling, ...) or
the bias adds a peer counts as MACs. A difference no such combination explains is flagged.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import inspect
import io
import itertools
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import roofscope
from roofscope.models.examples import SimpleAttentionBlock, SimpleConv, SimpleLinearModel
from roofscope.models.vision import torchvision_input

TOLERANCE = 1e-3  # 0.1%

TORCHVISION = [
    "alexnet", "vgg11", "resnet18", "resnet50", "squeezenet1_0", "densenet121", "googlenet", "inception_v3",
    "mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x1_0", "mnasnet0_5", "efficientnet_b0",
    "regnet_y_400mf", "convnext_tiny", "vit_b_16",
]  # fmt: skip

PEERS = ["thop", "ptflops", "ptflops-aten", "fvcore", "torchprofile", "FlopCounterMode", "calflops"]


class HuggingFace(nn.Module):
    """A transformers model called with one tensor, returning its last hidden state."""

    def __init__(self, model: nn.Module, key: str, decoder: bool = False) -> None:
        super().__init__()
        self.model = model
        self.key = key
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kwargs = {self.key: x}
        if self.decoder:
            kwargs["decoder_input_ids"] = x
        return (
            self.model(**kwargs, use_cache=False, return_dict=True).last_hidden_state
            if self.decoder
            else self.model(**kwargs, return_dict=True).last_hidden_state
        )


def zoo(quick: bool) -> list[tuple[str, Callable[[], nn.Module], tuple[torch.Tensor, ...]]]:
    torch.manual_seed(0)
    entries: list[tuple[str, Callable[[], nn.Module], tuple[torch.Tensor, ...]]] = [
        ("example: SimpleLinearModel", SimpleLinearModel, (torch.randn(1, 10),)),
        ("example: SimpleConv", SimpleConv, (torch.randn(1, 1, 28, 28),)),
        ("example: SimpleAttentionBlock", SimpleAttentionBlock, tuple(torch.randn(1, 10, 256) for _ in range(3))),
    ]
    try:
        from torchvision.models import get_model

        for name in TORCHVISION[:3] if quick else TORCHVISION:
            options: dict[str, Any] = {"weights": None}
            if name in ("inception_v3", "googlenet"):
                options["init_weights"] = False
                options["aux_logits"] = False
            entries.append((f"torchvision: {name}", lambda n=name, o=options: get_model(n, **o), (torch.randn(torchvision_input(name)),)))
    except ImportError:
        print("torchvision missing: skipping its models", file=sys.stderr)
    try:
        import transformers as hf

        ids = torch.randint(0, 1000, (1, 128))
        pixels = torch.randn(1, 3, 224, 224)
        specs = [
            ("BertModel", lambda: HuggingFace(hf.BertModel(hf.BertConfig()), "input_ids"), ids),
            ("GPT2Model", lambda: HuggingFace(hf.GPT2Model(hf.GPT2Config()), "input_ids"), ids),
            ("DistilBertModel", lambda: HuggingFace(hf.DistilBertModel(hf.DistilBertConfig()), "input_ids"), ids),
            ("T5Model", lambda: HuggingFace(hf.T5Model(hf.T5Config()), "input_ids", decoder=True), ids),
            ("ViTModel", lambda: HuggingFace(hf.ViTModel(hf.ViTConfig(), add_pooling_layer=False), "pixel_values"), pixels),
        ]
        for name, factory, x in specs[:1] if quick else specs:
            entries.append((f"transformers: {name}", factory, (x,)))
    except ImportError:
        print("transformers missing: skipping its models", file=sys.stderr)
    return entries


# ---------------------------------------------------------------- peers


def _quiet() -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


def _constructor(model: nn.Module, args: tuple[torch.Tensor, ...]) -> Callable[[Any], dict[str, Any]]:
    names = list(inspect.signature(model.forward).parameters)
    return lambda _res: dict(zip(names, args))


def run_peer(peer: str, model: nn.Module, args: tuple[torch.Tensor, ...]) -> float:
    with _quiet(), torch.no_grad():
        if peer == "thop":
            from thop import profile

            return float(profile(copy.deepcopy(model), inputs=args, verbose=False)[0])
        if peer in ("ptflops", "ptflops-aten"):
            from ptflops import get_model_complexity_info

            macs, _ = get_model_complexity_info(
                copy.deepcopy(model), tuple(args[0].shape[1:]), as_strings=False, print_per_layer_stat=False,
                input_constructor=_constructor(model, args), backend="aten" if peer == "ptflops-aten" else "pytorch",
            )  # fmt: skip
            if macs is None:
                raise RuntimeError("ptflops returned None (it swallowed an exception)")
            return float(macs)
        if peer == "fvcore":
            from fvcore.nn import FlopCountAnalysis

            analysis = FlopCountAnalysis(model, args).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return float(analysis.total())
        if peer == "torchprofile":
            from torchprofile import profile_macs

            return float(profile_macs(model, args))
        if peer == "FlopCounterMode":
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as counter:
                model(*args)
            return counter.get_total_flops() / 2
        if peer == "calflops":
            from calflops import calculate_flops

            _, macs, _ = calculate_flops(
                copy.deepcopy(model), args=list(args), print_results=False, print_detailed=False, output_as_string=False
            )
            return float(macs)
    raise ValueError(peer)


# ---------------------------------------------------------------- explanation


def explanation_terms(report: roofscope.Report) -> list[tuple[str, int]]:
    """Signed quantities (in MAC units) a peer may add to or leave out of roofscope's count: per
    family and per op, the MACs it may not see, the bias adds, FLOPs and elements it may add."""
    families = report.by_family()
    per_op: dict[str, dict[str, int]] = {}
    per_family: dict[str, dict[str, int]] = {}
    for record in report.ops:
        if record.cost is None or record.family in ("shape", "memory", "embedding"):
            continue
        outputs = sum(t.numel for t in record.event.outputs[:1])
        inputs = sum(t.numel for t in record.event.inputs[:1])
        for key, table in ((record.name, per_op), (record.family, per_family)):
            entry = table.setdefault(key, {"macs": 0, "flops": 0, "out": 0, "in": 0, "bias": 0})
            entry["macs"] += record.cost.macs
            entry["flops"] += record.cost.flops
            entry["out"] += outputs
            entry["in"] += inputs
            entry["bias"] += record.cost.flops - 2 * record.cost.macs if record.cost.macs else 0
    terms: list[tuple[str, int]] = []
    for table, kind in ((per_family, "family"), (per_op, "op")):
        for name, entry in table.items():
            if entry["macs"]:
                terms.append((f"-{name} MACs", -entry["macs"]))
                if entry["bias"] and name not in ("attention",) and not name.endswith("attention"):
                    terms.append((f"+{name} bias adds", entry["bias"]))
            else:
                terms.append((f"+{name} FLOPs", entry["flops"]))
                terms.append((f"+{name} output elements", entry["out"]))
                if kind == "op":
                    terms.append((f"+{name} input elements", entry["in"]))
                    terms.append((f"+2x {name} output elements", 2 * entry["out"]))
    bias = sum(e["bias"] for n, e in per_family.items() if n in ("matmul", "conv"))
    if bias:
        terms.append(("+bias adds", bias))
    del families
    return [(name, value) for name, value in dict(terms).items() if value]


def explain(difference: float, reference: int, terms: list[tuple[str, int]]) -> tuple[str, float] | None:
    """The smallest combination of terms (at most 3) that leaves a residual within 0.1% of roofscope
    and within 2% of the difference itself (so that a combination explains, not approximates)."""
    limit = min(TOLERANCE * reference, 0.02 * abs(difference))
    for size in (1, 2, 3):
        best: tuple[str, float] | None = None
        for combo in itertools.combinations(terms, size):
            residual = difference - sum(value for _, value in combo)
            if abs(residual) <= limit and (best is None or abs(residual) < abs(best[1])):
                best = (" ".join(name for name, _ in combo), residual)
        if best is not None:
            return best
    return None


# ---------------------------------------------------------------- report


def fmt(value: float | None) -> str:
    if value is None:
        return "fail"
    return f"{value / 1e6:,.3f}M" if value < 1e9 else f"{value / 1e9:,.4f}G"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs", "agreement.md"))
    parser.add_argument("--quick", action="store_true", help="a few models only")
    options = parser.parse_args()

    rows = []
    started = time.perf_counter()
    for name, factory, args in zoo(options.quick):
        model = factory().eval()
        tick = time.perf_counter()
        report = roofscope.analyze(model, args)
        counts: dict[str, float | None] = {"roofscope": float(report.total.macs)}
        failures: dict[str, str] = {}
        for peer in PEERS:
            try:
                counts[peer] = run_peer(peer, model, args)
            except Exception as error:
                counts[peer] = None
                failures[peer] = f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
        rows.append((name, report, counts, failures))
        print(f"{name}: {time.perf_counter() - tick:.1f}s", file=sys.stderr)
        del model

    lines = render(rows, time.perf_counter() - started)
    with open(options.out, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print(f"wrote {os.path.normpath(options.out)}", file=sys.stderr)
    return 0


def render(rows: list[Any], seconds: float) -> list[str]:
    import importlib.metadata as md

    def version(package: str) -> str:
        try:
            return md.version(package)
        except md.PackageNotFoundError:
            return "not installed"

    lines = [
        "# Agreement with peer tools",
        "",
        "Generated by `bench/agreement.py` (do not edit by hand). MACs of one forward pass, batch 1, random",
        "weights, eval mode, on CPU. FlopCounterMode's figure is its FLOPs / 2; calflops' is its MACs.",
        f"torch {torch.__version__}; "
        + ", ".join(f"{p} {version(p)}" for p in ("torchvision", "transformers", "thop", "ptflops", "fvcore", "torchprofile", "calflops"))
        + f". Run time {seconds:.0f} s.",
        "",
        "For each peer more than 0.1% away from roofscope, the **explanation** is the smallest",
        "combination of roofscope's own per-family figures that accounts for the difference within",
        "0.1%: `-attention MACs` means the peer leaves out what roofscope's attention family counts",
        "(e.g. it cannot see `F.scaled_dot_product_attention`), `+norm FLOPs` / `+pointwise elements`",
        "means the peer adds the norm family's FLOPs / one per output element of the pointwise family to",
        "its MACs, `+bias adds` means it counts the bias additions of linear and conv layers as MACs.",
        "",
        "## Summary",
        "",
        "| model | roofscope | " + " | ".join(PEERS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in PEERS) + " |",
    ]
    details = []
    unexplained = []
    for name, report, counts, failures in rows:
        reference = report.total.macs
        cells = []
        notes = []
        terms = explanation_terms(report)
        for peer in PEERS:
            value = counts[peer]
            if value is None:
                cells.append("fail")
                notes.append(f"- {peer}: failed ({failures[peer]})")
                continue
            difference = value - reference
            relative = difference / reference if reference else float("inf") if difference else 0.0
            if abs(relative) <= TOLERANCE:
                cells.append(f"{fmt(value)} =")
                continue
            cells.append(f"{fmt(value)} ({relative:+.1%})")
            found = explain(difference, reference, terms)
            if found is not None:
                residual = found[1] / reference if reference else 0.0
                notes.append(f"- {peer}: {difference:+,.0f} = {found[0]} (residual {residual:+.3%})")
            else:
                agrees = counts.get("FlopCounterMode")
                torch_agrees = agrees is not None and abs(agrees - reference) <= TOLERANCE * reference
                blame = (
                    f"likely a bug or undocumented convention in {peer}: torch's FlopCounterMode agrees with roofscope"
                    if torch_agrees
                    else "roofscope and FlopCounterMode disagree too: check roofscope"
                )
                notes.append(f"- {peer}: {difference:+,.0f} **unexplained** ({blame})")
                unexplained.append(f"{name} / {peer}: {relative:+.2%} ({blame})")
        lines.append(f"| {name} | {fmt(reference)} | " + " | ".join(cells) + " |")
        families = ", ".join(
            f"{family} {cost.macs:,} MACs / {cost.flops:,} FLOPs" for family, cost in report.by_family().items() if cost.macs or cost.flops
        )
        details += [f"### {name}", "", f"roofscope: {reference:,} MACs, {report.total.flops:,} FLOPs.", f"By family: {families}."]
        if report.uncounted:
            details.append(f"Uncounted ops: {report.uncounted}.")
        details += [""] + (notes or ["All peers agree within 0.1%."]) + [""]
    lines += ["", "`=` agrees with roofscope within 0.1%; `fail`: the tool raised (reason below).", ""]
    lines += ["## Unexplained differences", ""]
    lines += [f"- {item}" for item in unexplained] or ["None: every difference above 0.1% is explained by an op family."]
    lines += ["", "## Per model", "", *details]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
