"""The sentences every view prints under its figures: what they count, and how a run was measured."""

from __future__ import annotations

__all__ = ["CONVENTION", "MEASURED_CONVENTION"]

CONVENTION = (
    "MACs: multiply-accumulates of matmul-class ops (matmul, linear, conv, attention), bias excluded. "
    "FLOPs: 2 per MAC plus every other floating-point op. "
    "Bytes: each op reads its inputs once and writes its outputs once (eager, unfused). "
    "See docs/conventions.md."
)

MEASURED_CONVENTION = (
    "Measured: median over the repeats of each op's own time (CUDA events or perf_counter around the op); "
    "a module's time is the sum of its ops'. Utilization = achieved FLOP/s / the peak that applies; "
    'eff = roofline efficiency = roofline time / measured (100% = at the roof). See docs/conventions.md, "Measured".'
)
