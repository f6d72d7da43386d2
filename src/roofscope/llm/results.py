"""What the LLM queries return: memory footprint, step estimates, the serving summary, a training
step, and model FLOPs utilisation."""

from __future__ import annotations

import dataclasses
from typing import Any

from roofscope.cost import Cost
from roofscope.report import Report
from roofscope.report.views import StepViews, SummaryViews

__all__ = ["MemoryFootprint", "PresetSummary", "ServingSummary", "StepEstimate", "TrainingStep", "mfu"]


def mfu(
    flops_per_step: float,
    *,
    peak: float,
    step_time: float | None = None,
    tokens_per_second: float | None = None,
    tokens_per_step: int | None = None,
) -> float:
    """Model FLOPs utilisation: achieved model FLOP/s divided by ``peak`` FLOP/s.

    Give ``step_time`` (seconds per step), or ``tokens_per_second`` with ``tokens_per_step``.
    """
    if step_time is None:
        if tokens_per_second is None or tokens_per_step is None:
            raise ValueError("give step_time, or tokens_per_second and tokens_per_step")
        step_time = tokens_per_step / tokens_per_second
    return flops_per_step / step_time / peak


@dataclasses.dataclass(frozen=True)
class MemoryFootprint:
    """Bytes resident while serving (weights, KV cache, an estimate of live activations), against
    a device's capacity when one is known."""

    weights: int
    kv_cache: int
    activations: int
    capacity: float | None = None  # bytes; None without a device, or for a device without the figure
    device: str | None = None

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.activations

    @property
    def fits(self) -> bool | None:
        """total <= capacity; None when the capacity is unknown."""
        return None if self.capacity is None else self.total <= self.capacity

    @property
    def free(self) -> float | None:
        """capacity - total (negative: this much is missing); None when the capacity is unknown."""
        return None if self.capacity is None else self.capacity - self.total

    @property
    def share(self) -> float | None:
        """total / capacity; None when the capacity is unknown."""
        return None if not self.capacity else self.total / self.capacity

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "kv_cache": self.kv_cache,
            "activations": self.activations,
            "total": self.total,
            "capacity": self.capacity,
            "device": self.device,
            "fits": self.fits,
            "free": self.free,
        }


@dataclasses.dataclass(frozen=True)
class StepEstimate:
    """One prefill or decode step: its counts and, with a device, its roofline prediction."""

    tokens: int  # tokens processed: batch * seq_len for a prefill, batch for a decode step
    flops: int
    bytes: int
    seconds: (
        float | None
    )  # the roofline time (the sum of the ops' max(FLOPs / peak, bytes / bandwidth)), as a serving engine approaches it; None without a device
    bound: str | None  # "memory" or "compute"

    @property
    def intensity(self) -> float | None:
        """FLOPs per byte moved; None for a step that moves nothing."""
        return self.flops / self.bytes if self.bytes else None

    @classmethod
    def of(cls, report: Report, tokens: int) -> StepEstimate:
        total = report.total
        return cls(tokens, total.flops, total.bytes, total.roofline_s, total.roofline_bound)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ServingSummary(SummaryViews):
    """What serving a transformer costs at one batch and context, on one device, in one precision.

    Computed by ``LLM.summary``; ``roofscope.render`` prints it (``print(summary)``, and in a notebook
    its HTML), ``to_dict`` is its JSON.
    """

    model: str
    device: str | None
    precision: str
    batch: int
    seq_len: int  # prompt tokens (the prefill)
    context: int  # tokens in the KV cache at the decode step
    params: int
    active_params: int  # params for a dense model; for a mixture of experts, those one token uses
    active_params_without_embedding: int  # active_params less the input embedding table, as model cards quote it
    kv_cache_bytes: int  # at ``context``
    memory: MemoryFootprint  # KV cache at max(seq_len, context)
    prefill: StepEstimate
    decode: StepEstimate  # one new token per sequence
    traffic: str = "serving"  # the traffic convention of the steps: "serving" or "eager"
    cache_layout: str = ""  # what the layers cache, e.g. "34 layers: 28 sliding (window 1024), 6 full"
    parallel: Any = None  # a ParallelSummary (roofscope.llm.parallel) when the model is split over GPUs

    @property
    def moe(self) -> bool:
        return self.active_params != self.params

    @property
    def prefill_s(self) -> float | None:
        """Predicted prefill latency (the prompt's forward pass), seconds."""
        return self.prefill.seconds

    @property
    def time_per_output_token(self) -> float | None:
        """Predicted seconds per decode step (each sequence of the batch gets one token)."""
        return self.decode.seconds

    @property
    def tokens_per_second(self) -> float | None:
        """batch / time per output token: generated tokens per second over the whole batch."""
        return self.batch / self.decode.seconds if self.decode.seconds else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "precision": self.precision,
            "batch": self.batch,
            "seq_len": self.seq_len,
            "context": self.context,
            "params": self.params,
            "active_params": self.active_params,
            "active_params_without_embedding": self.active_params_without_embedding,
            "traffic": self.traffic,
            "cache_layout": self.cache_layout,
            "kv_cache_bytes": self.kv_cache_bytes,
            "memory": self.memory.to_dict(),
            "prefill": self.prefill.to_dict(),
            "decode": self.decode.to_dict(),
            "prefill_s": self.prefill_s,
            "time_per_output_token_s": self.time_per_output_token,
            "tokens_per_s": self.tokens_per_second,
            **({"parallel": self.parallel.to_dict()} if self.parallel is not None else {}),
        }


@dataclasses.dataclass(frozen=True)
class TrainingStep(StepViews):
    """Forward plus backward of one training step, as counted on meta."""

    report: Report  # all ops; OpRecord.event.phase tells forward from backward
    forward: Cost
    backward: Cost
    tokens: int

    @property
    def total(self) -> Cost:
        return self.forward + self.backward

    @property
    def flops(self) -> int:
        return self.total.flops

    @property
    def backward_forward_ratio(self) -> float:
        return self.backward.flops / self.forward.flops


@dataclasses.dataclass(frozen=True)
class PresetSummary:
    """One built-in preset: what it is and what it holds (``roofscope.llm.preset_summaries``)."""

    name: str
    model_type: str
    head: str  # "causal-lm", "seq2seq-lm", "base", "image-classification"
    dtype: str  # the published checkpoint's
    params: int
    active_params: int  # for a mixture of experts, those one token uses
    source: str  # the hub repository whose config.json the preset holds

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
