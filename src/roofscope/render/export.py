"""File formats of a report: JSON (``Report.to_dict``), CSV (one row per module), Markdown and HTML.

They format what the report holds; they compute nothing.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING

from roofscope.render.html import to_html
from roofscope.render.llm import llm_markdown
from roofscope.render.measured import measured_lines
from roofscope.render.prediction import prediction_lines
from roofscope.render.units import nbytes, percent, seconds, si
from roofscope.report import MEASURED_CONVENTION, Report

if TYPE_CHECKING:
    from roofscope.llm import ServingSummary

__all__ = ["CSV_COLUMNS", "MEASURED_COLUMNS", "module_rows", "op_rows", "to_csv", "to_format", "to_json", "to_markdown"]

CSV_COLUMNS = (
    "kind",
    "name",
    "type",
    "depth",
    "calls",
    "params",
    "macs",
    "flops",
    "bytes_read",
    "bytes_written",
    "intensity",
    "roofline_s",
    "predicted_s",
    "host_s",
    "bound",
    "complete",
    "uncounted",
)
#: Added after CSV_COLUMNS in a measured report.
MEASURED_COLUMNS = ("measured_s", "achieved_flops", "achieved_bandwidth", "utilization", "efficiency")


def to_json(report: Report, *, serving: ServingSummary | None = None) -> str:
    """``Report.to_dict``, with the serving summary under "llm" when there is one."""
    data = report.to_dict()
    if serving is not None:
        data["llm"] = serving.to_dict()
    return json.dumps(data, indent=2) + "\n"


def _calls(uncounted: dict[str, int]) -> str:
    return "; ".join(f"{name} x{calls}" for name, calls in uncounted.items())


def module_rows(report: Report) -> list[dict[str, object]]:
    """One dict per module (the model first, depth first), with the CSV columns, "kind" "module";
    a module's figures are its total (itself and everything below it); predicted_s and bound are
    empty without a device; "complete" is False, and "uncounted" lists the op calls without a
    formula, where the total leaves some out. A measured report adds the MEASURED_COLUMNS (empty
    where a figure does not apply)."""
    rows = []
    measured = report.total.measured is not None
    for module in report.modules():
        figures = module.total
        extra: dict[str, object] = {}
        if measured:
            for column in MEASURED_COLUMNS:
                value = getattr(figures, column)
                extra[column] = "" if value is None else value
        rows.append(
            {
                "kind": "module",
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
                "roofline_s": "" if figures.roofline_s is None else figures.roofline_s,
                "predicted_s": "" if figures.predicted_s is None else figures.predicted_s,
                "host_s": "" if figures.host_s is None else figures.host_s,
                "bound": figures.bound or "",
                "complete": module.complete,
                "uncounted": _calls(module.uncounted_total),
                **extra,
            }
        )
    return rows


def op_rows(report: Report) -> list[dict[str, object]]:
    """One dict per op name (all its calls; ``Report.by_op`` order), "kind" "op", "type" its family;
    an op without a formula has empty figures, "complete" False and itself as "uncounted"."""
    rows = []
    measured = report.total.measured is not None
    for summary in report.by_op().values():
        cost = summary.cost
        figures: dict[str, object] = (
            {"macs": "", "flops": "", "bytes_read": "", "bytes_written": "", "intensity": ""}
            if cost is None
            else {
                "macs": cost.macs,
                "flops": cost.flops,
                "bytes_read": cost.bytes_read,
                "bytes_written": cost.bytes_written,
                "intensity": round(cost.intensity, 6),
            }
        )
        extra: dict[str, object] = {column: "" for column in MEASURED_COLUMNS} if measured else {}
        if measured and summary.measured_s is not None:
            extra["measured_s"] = summary.measured_s
        rows.append(
            {
                "kind": "op",
                "name": summary.name,
                "type": summary.family,
                "depth": "",
                "calls": summary.calls,
                "params": "",
                **figures,
                "predicted_s": "",
                "bound": "",
                "complete": cost is not None,
                "uncounted": "" if cost is not None else f"{summary.name} x{summary.calls}",
                **extra,
            }
        )
    return rows


def to_csv(report: Report) -> str:
    """The modules, then the ops (column "kind" tells them apart)."""
    buffer = io.StringIO()
    columns = CSV_COLUMNS + (MEASURED_COLUMNS if report.total.measured is not None else ())
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(module_rows(report))
    writer.writerows(op_rows(report))
    return buffer.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(report: Report, *, depth: int | None = None, exact: bool = False, serving: ServingSummary | None = None) -> str:
    """The module table (to ``depth``; None = every module) as a GitHub table, the op table, then
    the totals, the uncounted ops and the convention. A total that leaves out uncounted ops is
    marked with an asterisk."""
    timed = report.device is not None
    measured = report.total.measured is not None
    header = ["module", "type", "calls", "params", "MACs", "FLOPs", "bytes", "FLOP/B"]
    if timed:
        header += ["roofline", "time", "bound"]
    if measured:
        header += ["measured", "FLOP/s"] + (["util", "eff"] if timed else [])
    mark = "" if report.complete else " \\*"
    lines = [
        f"# {report.model_name}",
        "",
        f"inputs: {', '.join(f'`{i}`' for i in report.inputs)}" + (f", analysed as {report.precision.name}" if report.precision else ""),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|",
    ]
    for module in report.modules():
        if depth is not None and module.depth > depth:
            continue
        figures = module.total
        name = ("&nbsp;&nbsp;" * module.depth) + (module.short_name or report.model_name)
        incomplete = "" if module.complete else "\\*"
        cells = [
            _cell(name),
            _cell(module.type),
            str(module.calls),
            si(module.params.total, exact=exact),
            si(figures.macs, exact=exact) + incomplete,
            si(figures.flops, exact=exact) + incomplete,
            nbytes(figures.bytes, exact=exact) + incomplete,
            f"{figures.intensity:.1f}",
        ]
        if timed:
            cells += [seconds(figures.roofline_s or 0.0), seconds(figures.predicted_s or 0.0), figures.bound or "-"]
        if measured:
            cells += (
                ["-"] * (4 if timed else 2)
                if figures.measured is None
                else [
                    seconds(figures.measured_s or 0.0),
                    si(figures.achieved_flops or 0.0),
                    *([percent(figures.utilization), percent(figures.efficiency)] if timed else []),
                ]
            )
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Ops", "", "| op | family | calls | MACs | FLOPs | bytes | %FLOPs |", "|---|---|---:|---:|---:|---:|---:|"]
    whole = report.total.flops
    for summary in report.by_op().values():
        cost = summary.cost
        if cost is None:
            lines.append(f"| `{summary.name}` | **uncounted** | {summary.calls} | ? | ? | ? | ? |")
            continue
        share = f"{100 * cost.flops / whole:.1f}%" if whole else "-"
        lines.append(
            f"| `{summary.name}` | {summary.family} | {summary.calls} | {si(cost.macs, exact=exact)} | {si(cost.flops, exact=exact)} "
            f"| {nbytes(cost.bytes, exact=exact)} | {share} |"
        )
    total = report.total
    lines += [
        "",
        "## Totals" + (" (incomplete \\*: the uncounted ops below are not in them)" if not report.complete else ""),
        "",
        f"- params: {report.params.total:,} ({report.params.trainable:,} trainable)",
        f"- MACs: {total.macs:,}{mark}",
        f"- FLOPs: {total.flops:,}{mark} (matmul FLOPs {total.matmul_flops:,})",
        f"- bytes read: {total.bytes_read:,}; written: {total.bytes_written:,}{mark}",
        f"- intensity: {total.intensity:.2f} FLOP/B",
    ]
    backward = report.backward
    if backward is not None:
        lines.append(
            f"- forward FLOPs: {report.forward.flops:,}; backward FLOPs: {backward.flops:,}"
            f" (backward/forward {report.backward_forward_ratio or 0:.2f})"
        )
    lines += [f"- {line}" for line in prediction_lines(report)]
    run = report.measurement
    if run is not None:
        lines += [f"- {line}" for line in measured_lines(report)]
        found = report.shortfalls(limit=10)
        if found:
            lines += [
                "",
                "## Furthest below their roof",
                "",
                "| op | module | roofline | measured | eff | util | bound |",
                "|---|---|---:|---:|---:|---:|---|",
            ]
            for record in found:
                timing, taken = record.timing, record.measured
                assert timing is not None and taken is not None
                lines.append(
                    f"| `{record.name}` | {_cell(record.module or report.model_name)} | {seconds(timing.roofline_s)} | {seconds(taken.measured_s)} "
                    f"| {percent(taken.efficiency)} | {percent(taken.utilization)} | {timing.bound} |"
                )
    lines += ["", "## Uncounted ops", ""]
    if report.uncounted:
        lines.append(f"**{sum(report.uncounted.values())} op call(s) have no formula and are NOT in the totals:**")
        lines.append("")
        lines += [f"- `{name}` x{calls}" for name, calls in report.uncounted.items()]
    else:
        lines.append("none: every op call is counted.")
    if report.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in report.notes)]
    lines += ["", f"_{report.convention}_", ""]
    if serving is not None:
        lines += [llm_markdown(serving, exact=exact)]
    if run is not None:
        lines += [f"_{MEASURED_CONVENTION}_", ""]
    return "\n".join(lines)


def to_format(report: Report, fmt: str, *, depth: int | None = None, exact: bool = False, serving: ServingSummary | None = None) -> str:
    """The report as the text of one file format: "json", "csv", "md" or "html"; ``serving``, a
    transformer's serving summary, goes with it (not in CSV, whose rows are modules)."""
    if fmt == "json":
        return to_json(report, serving=serving)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "md":
        return to_markdown(report, depth=depth, exact=exact, serving=serving)
    if fmt == "html":
        return to_html(report, serving=serving)
    raise ValueError(f"unknown format {fmt!r}: use json, csv, md or html")
