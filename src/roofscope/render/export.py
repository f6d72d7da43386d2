"""File formats of a report: JSON (``Report.to_dict``), CSV (one row per module), Markdown and HTML.

They format what the report holds; they compute nothing.
"""

from __future__ import annotations

import csv
import io
import json

from roofscope.render.html import to_html
from roofscope.render.units import nbytes, seconds, si
from roofscope.report import Report

CSV_COLUMNS = (
    "name", "type", "depth", "calls", "params", "macs", "flops", "bytes_read", "bytes_written",
    "intensity", "predicted_s", "bound",
)


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def module_rows(report: Report) -> list[dict[str, object]]:
    """One dict per module (the model first, depth first), with the CSV columns; a module's figures
    are its total (itself and everything below it); predicted_s and bound are empty without a device."""
    rows = []
    for module in report.modules():
        figures = module.total
        rows.append({
            "name": module.name,
            "type": module.type,
            "depth": module.depth,
            "calls": module.calls,
            "params": module.params.total,
            "macs": figures.macs,
            "flops": figures.flops,
            "bytes_read": figures.bytes_read,
            "bytes_written": figures.bytes_written,
            "intensity": round(figures.intensity, 6),
            "predicted_s": "" if figures.predicted_s is None else figures.predicted_s,
            "bound": figures.bound or "",
        })
    return rows


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(module_rows(report))
    return buffer.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(report: Report, *, depth: int | None = None, exact: bool = False) -> str:
    """The module table (to ``depth``; None = every module) as a GitHub table, then the totals,
    the uncounted ops and the convention."""
    timed = report.device is not None
    header = ["module", "type", "calls", "params", "MACs", "FLOPs", "bytes", "FLOP/B"]
    if timed:
        header += ["time", "bound"]
    lines = [
        f"# {report.model_name}",
        "",
        f"inputs: {', '.join(f'`{i}`' for i in report.inputs)}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|",
    ]
    for module in report.modules():
        if depth is not None and module.depth > depth:
            continue
        figures = module.total
        name = ("&nbsp;&nbsp;" * module.depth) + (module.short_name or report.model_name)
        cells = [
            _cell(name), _cell(module.type), str(module.calls), si(module.params.total, exact=exact),
            si(figures.macs, exact=exact), si(figures.flops, exact=exact), nbytes(figures.bytes, exact=exact),
            f"{figures.intensity:.1f}",
        ]
        if timed:
            cells += [seconds(figures.predicted_s or 0.0), figures.bound or "-"]
        lines.append("| " + " | ".join(cells) + " |")
    total = report.total
    lines += [
        "",
        "## Totals",
        "",
        f"- params: {report.params.total:,} ({report.params.trainable:,} trainable)",
        f"- MACs: {total.macs:,}",
        f"- FLOPs: {total.flops:,} (matmul FLOPs {total.matmul_flops:,})",
        f"- bytes read: {total.bytes_read:,}; written: {total.bytes_written:,}",
        f"- intensity: {total.intensity:.2f} FLOP/B",
    ]
    backward = report.backward
    if backward is not None:
        lines.append(
            f"- forward FLOPs: {report.forward.flops:,}; backward FLOPs: {backward.flops:,}"
            f" (backward/forward {report.backward_forward_ratio or 0:.2f})"
        )
    if timed and total.predicted_s is not None:
        precision = report.precision.name if report.precision else "model dtype"
        lines.append(
            f"- roofline on {report.device.name} ({precision}): predicted {seconds(total.predicted_s)}, "
            f"{total.bound}-bound ({100 * (total.memory_bound_share or 0):.0f}% of time in memory-bound ops)"
        )
    lines += ["", "## Uncounted ops", ""]
    if report.uncounted:
        lines.append(f"**{sum(report.uncounted.values())} op call(s) have no formula and are NOT in the totals:**")
        lines.append("")
        lines += [f"- `{name}` x{calls}" for name, calls in report.uncounted.items()]
    else:
        lines.append("none: every op call is counted.")
    lines += ["", f"_{report.convention}_", ""]
    if report.llm is not None:
        from roofscope.render.llm import llm_markdown

        lines += [llm_markdown(report.llm, exact=exact)]
    return "\n".join(lines)


def to_format(report: Report, fmt: str, *, depth: int | None = None, exact: bool = False) -> str:
    """The report as the text of one file format: "json", "csv", "md" or "html"."""
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "md":
        return to_markdown(report, depth=depth, exact=exact)
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"unknown format {fmt!r}: use json, csv, md or html")
