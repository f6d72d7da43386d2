"""The roofline chart: log-log, one roof per precision in play, one point per op or module.

Reads the report's precomputed roofline (``Report.roofs``, each op's or module's intensity,
attainable FLOP/s and predicted time) and, in a measured report, each one's achieved FLOP/s and
measured time: the measured point is drawn under its roof, joined to its predicted point on the
roof. It computes nothing but where to draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from roofscope.extras import require
from roofscope.render.units import seconds, si
from roofscope.report import Report

__all__ = ["plot_roofline"]

Point = tuple[str, float, float, float, str, float | None, float | None]
#: A point that was measured: its achieved FLOP/s and measured seconds are there.
MeasuredPoint = tuple[str, float, float, float, str, float, float]


def _points(report: Report, by: str, depth: int) -> list[Point]:
    """(label, intensity, attainable FLOP/s, predicted s, bound, achieved FLOP/s, measured s) for each
    point with FLOPs and bytes; the last two are None when it was not measured."""
    points: list[Point] = []
    if by == "op":
        for record in report.ops:
            timing = record.timing
            if timing is None or not timing.flops or not timing.bytes or not timing.predicted_s:
                continue
            where = record.module or report.model_name
            measured = record.measured
            points.append(
                (
                    f"{record.name.removeprefix('aten.')} @ {where}",
                    timing.intensity,
                    timing.attainable,
                    timing.predicted_s,
                    timing.bound or "",
                    measured.achieved_flops if measured else None,
                    measured.measured_s if measured else None,
                )
            )
    elif by == "module":
        for module in report.modules():
            if module.depth != depth and not (module.depth < depth and not module.children):
                continue
            figures = module.total
            if not figures.flops or not figures.bytes or not figures.predicted_s:
                continue
            points.append(
                (
                    module.name or report.model_name,
                    figures.intensity,
                    figures.attainable or 0.0,
                    figures.predicted_s,
                    figures.bound or "",
                    figures.achieved_flops or None,
                    figures.measured_s or None,
                )
            )
    else:
        raise ValueError(f"by must be 'op' or 'module', got {by!r}")
    return points


def plot_roofline(
    report: Report,
    path: str | Path | None = None,
    *,
    by: str = "op",
    depth: int = 1,
    labels: int = 6,
    title: str | None = None,
) -> Any:
    """Draw ``report``'s roofline; save it to ``path`` (format from the suffix) when given."""
    if report.device is None or not report.roofs:
        raise ValueError("this report has no roofline: analyse with a device, e.g. roofscope.analyze(model, x, device='h100')")
    require("matplotlib", "the roofline chart")
    # A bare Figure renders with the Agg canvas whatever pyplot's backend: no window, no global state.
    from matplotlib.figure import Figure

    points = _points(report, by, depth)
    device = report.device
    roofs = report.roofs
    figure = Figure(figsize=(9, 6), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    axes.set_xscale("log")
    axes.set_yscale("log")

    intensities = [p[1] for p in points] + [roof.ridge for roof in roofs]
    x_low = min(intensities) / 4
    x_high = max(intensities) * 4
    colors = ["#1f4e9c", "#2a9d8f", "#e76f51", "#8e44ad", "#b8860b", "#555555"]
    for index, roof in enumerate(roofs):
        color = colors[index % len(colors)]
        style = "-" if roof.label.endswith("matrix") else "--"
        # The roof is the memory slope up to the ridge, then flat at the peak.
        axes.plot(
            [x_low, roof.ridge, x_high],
            [x_low * roof.bandwidth, roof.peak, roof.peak],
            style,
            color=color,
            lw=1.6,
            label=f"{roof.label}: {si(roof.peak, 'FLOP/s')}, ridge {roof.ridge:.0f} FLOP/B",
        )
        axes.plot([roof.ridge], [roof.peak], "o", color=color, ms=5)
        axes.annotate(
            f"ridge {roof.ridge:.0f}", (roof.ridge, roof.peak), textcoords="offset points", xytext=(4, 5), fontsize=8, color=color
        )

    measured = [cast(MeasuredPoint, p) for p in points if p[5] and p[6]]
    if measured:
        # Measured: each point at its achieved FLOP/s, under its roof, joined to its predicted point
        # (hollow, on the roof); area ~ measured time; labels name the most measured time.
        largest = max(p[6] for p in measured)
        for p in measured:
            axes.plot([p[1], p[1]], [p[2], p[5]], "-", color="0.6", lw=0.6, zorder=1)
        axes.scatter(
            [p[1] for p in measured],
            [p[2] for p in measured],
            s=14,
            facecolors="none",
            edgecolors="0.35",
            linewidths=0.7,
            zorder=2,
            label=f"predicted {by}s (on the roof)",
        )
        for group, color, name in (
            ([p for p in measured if p[4] == "memory"], "#d62828", "memory-bound"),
            ([p for p in measured if p[4] != "memory"], "#1d7874", "compute-bound"),
        ):
            if group:
                axes.scatter(
                    [p[1] for p in group],
                    [p[5] for p in group],
                    s=[12 + 400 * p[6] / largest for p in group],
                    color=color,
                    alpha=0.6,
                    edgecolors="black",
                    linewidths=0.4,
                    zorder=3,
                    label=f"measured {name} {by}s (area ~ measured time)",
                )
        whole = report.total.measured_s
        heaviest: list[tuple[str, float, float, float]] = [(p[0], p[1], p[5], p[6]) for p in sorted(measured, key=lambda p: -p[6])[:labels]]
    elif points:
        largest = max(p[3] for p in points)
        memory = [p for p in points if p[4] == "memory"]
        compute = [p for p in points if p[4] != "memory"]
        for predicted, color, name in ((memory, "#d62828", "memory-bound"), (compute, "#1d7874", "compute-bound")):
            if predicted:
                axes.scatter(
                    [p[1] for p in predicted],
                    [p[2] for p in predicted],
                    s=[12 + 400 * p[3] / largest for p in predicted],
                    color=color,
                    alpha=0.55,
                    edgecolors="black",
                    linewidths=0.4,
                    label=f"{name} {by}s (area ~ predicted time)",
                )
        whole = report.total.predicted_s
        heaviest = [(p[0], p[1], p[2], p[3]) for p in sorted(points, key=lambda p: -p[3])[:labels]]
    if points:
        # The labels of the heaviest points stand in a column in the empty upper left (above the
        # memory slope, below the caption), ordered like their points so the leader lines do not cross.
        heaviest.sort(key=lambda p: -p[2])
        for rank, (label, x, y, taken) in enumerate(heaviest):
            share = 100 * taken / whole if whole else 0
            text = f"{label[:48]} ({share:.0f}%)"
            axes.annotate(
                text,
                (x, y),
                xycoords="data",
                xytext=(0.02, (0.82 if measured else 0.86) - rank * 0.055),
                textcoords="axes fraction",
                ha="left",
                va="center",
                fontsize=7.5,
                arrowprops={"arrowstyle": "-", "color": "0.45", "lw": 0.6, "shrinkB": 3},
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.7", "lw": 0.5},
            )

    y_values = [p[2] for p in points] + [p[5] for p in measured] + [roof.peak for roof in roofs]
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(min(min(y_values) / 3, x_low * device.memory_bandwidth), max(y_values) * 3)
    axes.set_xlabel("arithmetic intensity (FLOP / byte)")
    axes.set_ylabel("attainable FLOP/s")
    total = report.total
    precision = report.precision.name if report.precision else "model dtype"
    run = report.measurement
    caption = (
        f"predicted {seconds(total.predicted_s or 0.0)}, {si(total.attainable or 0, 'FLOP/s')} attainable, "
        f"{100 * (total.memory_bound_share or 0):.0f}% of time memory-bound\n"
    )
    if run is not None and measured:
        caption += (
            f"measured on {run.device}: forward {seconds(run.forward_s)}, {si(run.achieved_flops, 'FLOP/s')}; "
            f"roofline efficiency {100 * (total.efficiency or 0):.2g}%\n"
        )
    peaks = "dense datasheet peaks" if "catalog" in str(run.ceilings if run else "catalog") else "peaks of " + device.name
    caption += f"memory {device.memory_bandwidth / 1e9:,.0f} GB/s; {peaks}; ops without FLOPs not drawn"
    default_title = f"{report.model_name} on {device.name} ({precision})" + (", predicted and measured" if measured else "")
    axes.set_title(title or default_title, fontsize=11, loc="left")
    axes.text(0.01, 0.98, caption, transform=axes.transAxes, va="top", fontsize=8, color="0.3")
    axes.grid(True, which="major", lw=0.4, alpha=0.5)
    legend = axes.legend(loc="lower right", fontsize=7.5, framealpha=0.9)
    for handle in legend.legend_handles:
        if handle is not None and hasattr(handle, "set_sizes"):  # scatter handles: one size, not the first point's area
            handle.set_sizes([30])
    if path is not None:
        figure.savefig(path)
    return figure
