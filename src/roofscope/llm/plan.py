"""``plan``: the layout that serves a model on the fewest GPUs within a latency target.

The candidates are TP in {1, 2, 4, 8} x PP in {1, 2, 4, ...} (x EP in {1, 2, 4, 8} up to TP for a
mixture of experts) up to ``max_gpus``, one replica each (DP multiplies a chosen layout's
throughput and GPUs alike). A candidate qualifies when its per-GPU memory fits the device and its
time per output token is at most ``max_tpot``; of those the plan takes the fewest GPUs, then the
highest tokens/s per GPU, then the smaller TP (fewer collectives). Each candidate is
``roofscope.llm.parallel``'s serving figures, from one prefill and one decode analysis shared by all.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from roofscope.analysis import AnalysisError
from roofscope.llm.parallel import Layout, ParallelSummary, check_layout, serving

if TYPE_CHECKING:
    from roofscope.llm.model import LLM

__all__ = ["Plan", "PlanCandidate", "candidate_layouts", "plan"]

TP_CHOICES = (1, 2, 4, 8)


@dataclasses.dataclass(frozen=True)
class PlanCandidate:
    """One layout the plan weighed, with its serving figures and whether it qualifies."""

    summary: ParallelSummary
    fits: bool | None
    meets_target: bool | None

    @property
    def layout(self) -> Layout:
        return self.summary.layout

    @property
    def gpus(self) -> int:
        return self.summary.gpus

    @property
    def qualifies(self) -> bool:
        return bool(self.fits) and bool(self.meets_target)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout.to_dict(),
            "fits": self.fits,
            "meets_target": self.meets_target,
            "memory_per_gpu": self.summary.memory.total,
            "time_per_output_token_s": self.summary.time_per_output_token,
            "tokens_per_s_per_gpu": self.summary.tokens_per_second_per_gpu,
            "collective_share": self.summary.decode.collective_share,
        }


@dataclasses.dataclass(frozen=True)
class Plan:
    """The candidates in the order weighed (fewest GPUs first) and the one chosen (None: none qualifies)."""

    model: str
    device: str
    precision: str
    batch: int
    seq_len: int
    context: int
    max_tpot: float
    max_gpus: int
    candidates: tuple[PlanCandidate, ...]
    chosen: PlanCandidate | None

    @property
    def reason(self) -> str:
        """Why the chosen layout, or why none, in one sentence."""
        target = f"time per output token <= {self.max_tpot * 1e3:g} ms"
        if self.chosen is None:
            fitting = [c for c in self.candidates if c.fits]
            why = "none fits in memory" if not fitting else f"{len(fitting)} fit in memory, none meets {target}"
            return f"no layout of up to {self.max_gpus} GPUs serves {self.model} on {self.device}: {why}"
        tied = [c for c in self.candidates if c.qualifies and c.gpus == self.chosen.gpus]
        then = f", then the highest tokens/s per GPU of {len(tied)}" if len(tied) > 1 else ""
        return f"{self.chosen.layout.describe()}: the fewest GPUs ({self.chosen.gpus}) that fit in memory and meet {target}{then}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "precision": self.precision,
            "batch": self.batch,
            "seq_len": self.seq_len,
            "context": self.context,
            "max_tpot_s": self.max_tpot,
            "max_gpus": self.max_gpus,
            "candidates": [c.to_dict() for c in self.candidates],
            "chosen": self.chosen.to_dict() if self.chosen is not None else None,
            "reason": self.reason,
        }


def candidate_layouts(llm: LLM, max_gpus: int) -> list[Layout]:
    """Every layout the model can take within ``max_gpus``, fewest GPUs first."""
    layouts = []
    pps = [1]
    while pps[-1] * 2 <= min(llm.num_layers, max_gpus):
        pps.append(pps[-1] * 2)
    eps = [1, 2, 4, 8] if llm.num_experts else [1]
    for tp in TP_CHOICES:
        for pp in pps:
            for ep in eps:
                if tp * pp > max_gpus or ep > tp:
                    continue
                try:
                    layout = Layout(tp=tp, pp=pp, ep=ep)
                    check_layout(llm, layout)
                except AnalysisError:
                    continue
                layouts.append(layout)
    return sorted(layouts, key=lambda layout: (layout.gpus, layout.tp, layout.ep))


def plan(llm: LLM, *, max_tpot: float, batch: int = 1, seq_len: int = 2048, context: int | None = None, max_gpus: int = 64) -> Plan:
    """The layout of ``llm`` (its device and precision) that serves ``batch`` sequences of a
    ``seq_len`` prompt within ``max_tpot`` seconds per output token on the fewest GPUs."""
    if llm.device is None:
        raise AnalysisError("a plan needs a device (device='h100', ...): its capacity and interconnect")
    if not max_tpot > 0:
        raise AnalysisError(f"max_tpot must be a positive number of seconds, got {max_tpot!r}")
    if max_gpus < 1:
        raise AnalysisError(f"max_gpus must be a positive integer, got {max_gpus!r}")
    context = seq_len if context is None else context
    candidates = []
    for layout in candidate_layouts(llm, max_gpus):
        summary = serving(llm, layout, batch, seq_len, context, llm.device)
        tpot = summary.time_per_output_token
        candidates.append(PlanCandidate(summary, summary.memory.fits, None if tpot is None else tpot <= max_tpot))
    qualifying = [c for c in candidates if c.qualifies]
    chosen = min(qualifying, key=lambda c: (c.gpus, -(c.summary.tokens_per_second_per_gpu or 0.0), c.layout.tp), default=None)
    return Plan(llm.name, llm.device.name, llm.precision_name, batch, seq_len, context, max_tpot, max_gpus, tuple(candidates), chosen)
