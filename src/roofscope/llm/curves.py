"""Serving curves: one causal LM's serving summary over batch sizes, and several LLMs side by side.

Each row is ``LLM.summary`` at one batch (or for one model): time to first token (the prefill),
time per output token (one decode step at the context), tokens/s over the batch, the KV cache and
the memory footprint against the device's capacity. ``largest_batch`` says where the memory runs out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from roofscope.llm.model import LLM
from roofscope.llm.results import ServingSummary

__all__ = ["ServingCurve", "compare_serving", "serving_curve"]


@dataclasses.dataclass(frozen=True)
class ServingCurve:
    """A serving summary per batch size, and the largest batch that fits the device (None without a
    capacity figure)."""

    model: str
    rows: list[ServingSummary]
    largest_batch: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "largest_batch": self.largest_batch, "rows": [row.to_dict() for row in self.rows]}


def serving_curve(
    spec: str,
    batches: list[int],
    *,
    seq_len: int = 2048,
    context: int | None = None,
    progress: Callable[[int], None] | None = None,
    **options: Any,
) -> ServingCurve:
    """``LLM(spec, **options).summary(batch, seq_len, context)`` for each batch, and the largest
    batch that fits."""
    llm = LLM(spec, **options)
    rows = []
    for batch in batches:
        rows.append(llm.summary(batch, seq_len, context))
        if progress is not None:
            progress(batch)
    return ServingCurve(llm.name, rows, llm.largest_batch(seq_len, context))


def compare_serving(
    specs: list[str],
    *,
    batch: int = 1,
    seq_len: int = 2048,
    context: int | None = None,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> list[ServingSummary]:
    """The serving summary of each LLM at the same batch, prompt and context."""
    rows = []
    for spec in specs:
        rows.append(LLM(spec, **options).summary(batch, seq_len, context))
        if progress is not None:
            progress(spec)
    return rows
