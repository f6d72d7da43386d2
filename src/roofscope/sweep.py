"""Several reports side by side: one model swept over a dimension, or several models compared.

A sweep analyses one model at a series of batch sizes (or image sizes, or sequence lengths) on the
meta device, where no tensor is allocated (``roofscope.analysis.analyze_resolved``), and reads each report's totals; a comparison does the
same for several models. The rows hold the reports' own figures; throughput is samples per
predicted second.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from roofscope.analysis import analyze_resolved
from roofscope.inputs import TensorSpec, replace_dims
from roofscope.models import ModelSpecError, ResolvedModel, resolve
from roofscope.report import Report

__all__ = ["Row", "crossing", "parse_values", "rows_dicts", "run_compare", "run_sweep"]


def parse_values(text: str) -> list[int]:
    """ "1,2,4,...,256" (doubling, as the values before "..." show), "1,2,3,...,8" (step 1),
    "128,160,...,320" (step 32), "1,8,32", or one number. Before "...": a constant difference over
    three values is a step; two values whose ratio is a whole number are a ratio, any other two a
    step. The last value is always included."""
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
            if a <= 0 or b <= a or last < b:
                raise error
            arithmetic = b - a == a - values[-3] if len(values) >= 3 else b % a != 0
            if not arithmetic and b % a:
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


def _resolved(spec: str, **sizes: Any) -> ResolvedModel:
    """The model named ``spec`` on the meta device; an error names the model it is about."""
    try:
        return resolve(spec, meta=True, **sizes)
    except ValueError as error:  # ModelSpecError, a config that cannot be read
        raise ModelSpecError(f"{spec}: {error}") from None


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
    values = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
    for value in values:
        if isinstance(value, TensorSpec) and value.shape:
            return value.shape[0]
    return 1


def run_sweep(spec: str, values: list[int], *, axis: str = "batch", inputs: Any = None, progress: Any = None, **options: Any) -> list[Row]:
    """One report per value of ``axis`` ("batch", "size" or "seq"), each counted on the meta device."""
    resolved = _resolved(spec)
    base = inputs if inputs is not None else resolved.inputs
    if base is None:
        raise ValueError(f"{resolved.name} declares no default inputs: give one with --input")
    rows = []
    for value in values:
        shaped = replace_dims(base, **{axis: value})
        report = analyze_resolved(resolved, shaped, spec=spec, **options)
        rows.append(Row(resolved.name, value, _samples(shaped), report))
        if progress is not None:
            progress(value)
    return rows


def run_compare(
    specs: list[str],
    *,
    batch: int | None = None,
    seq_len: int | None = None,
    inputs: Any = None,
    progress: Any = None,
    **options: Any,
) -> list[Row]:
    """One report per model, each on its default inputs (``batch`` sets their first dimension,
    ``seq_len`` a transformer preset's tokens) or on ``inputs``; every model is resolved before
    any is analysed, so a name that is wrong stops the comparison at once, named."""
    resolved = [_resolved(spec, seq_len=seq_len) if seq_len is not None else _resolved(spec) for spec in specs]
    plan = []
    for spec, model in zip(specs, resolved):
        given = inputs if inputs is not None else model.inputs
        if given is None:
            raise ValueError(f"{spec} declares no default inputs: give them with --input")
        plan.append((spec, model, replace_dims(given, batch=batch) if batch is not None else given))
    rows = []
    for spec, model, shaped in plan:
        report = analyze_resolved(model, shaped if isinstance(shaped, dict) else list(shaped), spec=spec, seq_len=seq_len, **options)
        rows.append(Row(model.name, None, _samples(shaped), report))
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
    """Each row's figures as plain data; "complete" is False, and "uncounted" lists the ops (name:
    calls), when the model ran ops that have no formula: its totals leave them out."""
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
            "complete": not row.report.uncounted,
            "uncounted": dict(row.report.uncounted),
        }
        for row in rows
    ]
