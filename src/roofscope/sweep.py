"""Several reports side by side: one model swept over a dimension, or several models compared.

A sweep analyses one model at a series of batch sizes (or image sizes, or sequence lengths) on the
meta device, where no tensor is allocated, and reads each report's totals; a comparison does the
same for several models. The rows hold the reports' own figures; throughput is samples per
predicted second.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from roofscope.analysis import analyze
from roofscope.models import ResolvedModel, resolve, resolve_on_meta
from roofscope.report import Report

__all__ = ["Row", "build_meta", "crossing", "parse_values", "rows_dicts", "run_compare", "run_sweep"]


def parse_values(text: str) -> list[int]:
    """ "1,2,4,...,256" (doubling, as the values before "..." show), "1,2,3,...,8" (step 1),
    "1,8,32", or one number. Before "...": a constant difference over three values is a step,
    otherwise an integer ratio is a ratio."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    error = ValueError(f"a series of positive integers is like 1,2,4,...,256 or 1,8,32; got {text!r}")
    try:
        if "..." in parts:
            index = parts.index("...")
            if index < 2 or index != len(parts) - 2:
                raise error
            values = [int(part) for part in parts[:index]]
            last = int(parts[-1])
            a, b = values[-2], values[-1]
            arithmetic = len(values) >= 3 and b - a == a - values[-3]
            if a <= 0 or b <= a or last < b or (not arithmetic and b % a):
                raise error
            while True:
                following = values[-1] + (b - a) if arithmetic else values[-1] * (b // a)
                if following > last:
                    break
                values.append(following)
            if values[-1] != last:
                values.append(last)
        else:
            values = [int(part) for part in parts]
    except ValueError:
        raise error from None
    if not values or any(value <= 0 for value in values):
        raise error
    return values


def build_meta(spec: str) -> ResolvedModel:
    """The model built on the meta device (no weights allocated), or on the CPU where it cannot be.
    Its analyses are partial where meta tensors cannot run the whole forward (a detection model's
    post-processing needs tensor values): each report's notes say where the count stopped."""
    if not spec.endswith(".pt2"):
        try:
            return resolve_on_meta(spec)
        except Exception as error:
            from roofscope.models import ModelSpecError

            if isinstance(error, ModelSpecError):
                raise
    return resolve(spec)


@dataclasses.dataclass
class Row:
    label: str
    value: int | None
    samples: int
    report: Report

    @property
    def throughput(self) -> float | None:
        """Samples per second at the predicted time."""
        predicted = self.report.total.predicted_s
        return self.samples / predicted if predicted else None


def _samples(inputs: Any) -> int:
    from roofscope.inputs import TensorSpec

    values = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
    for value in values:
        if isinstance(value, TensorSpec) and value.shape:
            return value.shape[0]
    return 1


def run_sweep(spec: str, values: list[int], *, axis: str = "batch", inputs: Any = None, progress: Any = None, **options: Any) -> list[Row]:
    """One report per value of ``axis`` ("batch", "size" or "seq")."""
    from roofscope.inputs import replace_dims

    resolved = build_meta(spec)
    base = inputs if inputs is not None else resolved.inputs
    if base is None:
        raise ValueError(f"{resolved.name} declares no default inputs: give one with --input")
    rows = []
    for value in values:
        shaped = replace_dims(base, **{axis: value})
        report = analyze(resolved.model, shaped, name=resolved.name, partial=True, **options)
        rows.append(Row(resolved.name, value, _samples(shaped), report))
        if progress is not None:
            progress(value)
    return rows


def run_compare(specs: list[str], *, batch: int | None = None, progress: Any = None, **options: Any) -> list[Row]:
    """One report per model, each on its default inputs (``batch`` sets their first dimension)."""
    from roofscope.inputs import replace_dims

    rows = []
    for spec in specs:
        resolved = build_meta(spec)
        if resolved.inputs is None:
            raise ValueError(f"{resolved.name} declares no default inputs; analyse it alone with --input")
        inputs = replace_dims(resolved.inputs, batch=batch) if batch is not None else resolved.inputs
        report = analyze(resolved.model, inputs if isinstance(inputs, dict) else list(inputs), name=resolved.name, partial=True, **options)
        rows.append(Row(resolved.name, None, _samples(inputs), report))
        if progress is not None:
            progress(spec)
    return rows


def crossing(rows: list[Row]) -> Row | None:
    """The first row whose model is compute-bound after a memory-bound one."""
    for before, after in itertools.pairwise(rows):
        if before.report.total.roofline_bound == "memory" and after.report.total.roofline_bound == "compute":
            return after
    return None


def rows_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    return [
        {
            "model": row.label,
            "value": row.value,
            "inputs": row.report.inputs,
            "params": row.report.params.total,
            "macs": row.report.total.macs,
            "flops": row.report.total.flops,
            "bytes_read": row.report.total.bytes_read,
            "bytes_written": row.report.total.bytes_written,
            "intensity": row.report.total.intensity,
            "predicted_s": row.report.total.predicted_s,
            "throughput": row.throughput,
            "bound": row.report.total.bound,
            "memory_bound_share": row.report.total.memory_bound_share,
        }
        for row in rows
    ]
