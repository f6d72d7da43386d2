"""The sentences that describe a measured run, written once for every view (terminal, Markdown,
HTML): how the forward was timed, what its ops account for and what timing them costs, what it
achieved against which ceilings, and the caveats."""

from __future__ import annotations

from roofscope.render.units import percent, seconds, si
from roofscope.report import Report

__all__ = ["measured_lines"]


def measured_lines(report: Report) -> list[str]:
    """One sentence per line; the last is the run's note (a caveat) when it has one."""
    run = report.measurement
    if run is None:
        return []
    lines = [
        f"measured on {run.device}: forward {seconds(run.forward_s)} (median of {run.repeats} plain forwards after "
        f"{run.warmup} warm-up; min {seconds(run.forward_min_s)}, max {seconds(run.forward_max_s)})"
    ]
    timing = f"timing each op ({run.clock}) makes a forward {run.overhead:.2f}x as long"
    if run.ops_s is not None:
        rest = " (the rest: host time between ops)" if (run.coverage or 0) < 1 else ""
        lines.append(f"its ops {seconds(run.ops_s)} = {percent(run.coverage)} of the forward{rest}; {timing}")
    else:
        lines.append(timing)
    achieved = f"achieved {si(run.achieved_flops)}FLOP/s over the forward"
    if run.peak:
        achieved += f" = {percent(run.utilization)} of the {run.peak_label} peak ({si(run.peak)}FLOP/s, {run.ceilings})"
    elif report.device is None:
        achieved += "; no ceilings to take utilization against (give a device: a catalog name or a `roofscope probe -o` file)"
    lines.append(achieved)
    total = report.total
    if total.efficiency is not None and total.predicted_s is not None:
        lines.append(
            f"roofline efficiency {percent(total.efficiency)}: predicted {seconds(total.predicted_s)}, "
            f"measured {seconds(total.measured_s or 0.0)} in its ops"
        )
    if run.note:
        lines.append(f"note: {run.note}")
    return lines
