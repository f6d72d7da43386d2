"""The sentences that describe a report's roofline and prediction, written once for every view
(terminal, Markdown, HTML): the seeds' roofline time, the predicted time in its mode and the terms
between them, what bounds it, the heaviest ops, and what the other modes or a larger batch would
take."""

from __future__ import annotations

from typing import TYPE_CHECKING

from roofscope.render.units import nbytes, seconds, si
from roofscope.report import Report

if TYPE_CHECKING:
    from roofscope.measurement.inductor import InductorBytes

__all__ = ["inductor_line", "prediction_lines"]


def _signed(value: float) -> str:
    return ("-" if value < 0 else "") + seconds(abs(value))


def _saving(share: float) -> str:
    if share > 0.005:
        return f"saves {100 * share:.0f}%"
    if share < -0.005:
        return f"costs {100 * -share:.0f}% more"
    return "the same"


def prediction_lines(report: Report) -> list[str]:
    """One sentence per line; empty without a device. The last line lists the alternatives."""
    timing = report.total.timing
    if timing is None or report.device is None:
        return []
    precision = report.precision.name if report.precision else "model dtype"
    prediction = report.prediction
    mode = prediction.mode if prediction is not None else "eager"
    lines = [
        f"roofline on {report.device.name} ({precision}): {seconds(timing.roofline_s)}, {timing.roofline_bound or '-'}-bound",
        f"predicted ({mode}): {seconds(timing.predicted_s)} = roofline {seconds(timing.roofline_s)} + efficiency "
        f"{_signed(timing.efficiency_s)} + cache {_signed(timing.cache_s)} + host {_signed(timing.host_s)}; "
        f"{timing.bound or '-'}-bound (of the predicted time {100 * timing.host_bound_share:.0f}% waits on the host, "
        f"{100 * timing.memory_bound_share:.0f}% is in memory-bound ops), attainable {si(timing.attainable)}FLOP/s",
    ]
    heaviest = report.dominant()[:3]
    if heaviest:
        lines.append("heaviest: " + ", ".join(f"{r.name.removeprefix('aten.')} @ {r.module or report.model_name}" for r in heaviest))
    if prediction is not None:
        lines.append(
            "instead: "
            + "; ".join(
                f"{alternative.label} {seconds(alternative.seconds)}"
                + (f" ({seconds(alternative.per_sample)} per batch of this size)" if alternative.per_sample != alternative.seconds else "")
                + f", {_saving(alternative.saves)}"
                for alternative in prediction.alternatives()
            )
        )
    return lines


def inductor_line(counted: InductorBytes, estimate: int) -> str:
    """inductor's own byte count beside the compiled-mode estimate of the same forward."""
    return (
        f"inductor (torch.compile on the CPU): {nbytes(counted.bytes)} over {counted.kernels} kernels, compiled in "
        f"{counted.compile_s:.0f} s; the compiled-mode estimate {nbytes(estimate)} ({100 * counted.difference(estimate):+.1f}%)"
    )
