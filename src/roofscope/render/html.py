"""A self-contained HTML report: nothing is fetched from the network.

The module tree is nested ``<details>`` (collapsible without JavaScript), the op table sorts on a
click of its header (a few lines of inline JavaScript), and with a device the roofline chart is
inline SVG. ``to_html(report, full=False)`` is the compact fragment notebooks show
(``Report._repr_html_``). It formats what the report holds; it computes nothing.
"""

from __future__ import annotations

import html
import io
import re
from typing import TYPE_CHECKING

from roofscope.render.llm import llm_html
from roofscope.render.measured import measured_lines
from roofscope.render.prediction import prediction_lines
from roofscope.render.units import nbytes, percent, seconds, si
from roofscope.report import MEASURED_CONVENTION, ModuleReport, Report

if TYPE_CHECKING:
    from roofscope.llm import ServingSummary

__all__ = ["to_html"]

_CSS = """
.roofscope{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:14px;color:#1b1f24;max-width:1150px}
.roofscope h1{font-size:20px;margin:4px 0}.roofscope h2{font-size:16px;margin:18px 0 6px}
.roofscope .muted{color:#57606a}.roofscope code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.roofscope .totals{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.roofscope .card{border:1px solid #d0d7de;border-radius:6px;padding:6px 10px;background:#f6f8fa}
.roofscope .card b{display:block;font-size:16px}
.roofscope .warn{border:2px solid #cf222e;background:#ffebe9;border-radius:6px;padding:8px 12px;margin:10px 0}
.roofscope .ok{border:1px solid #1a7f37;background:#dafbe1;border-radius:6px;padding:6px 12px;margin:10px 0}
.roofscope .tree{font-variant-numeric:tabular-nums}
.roofscope .tree details>div{margin-left:18px}
.roofscope .tree summary,.roofscope .tree .leaf{display:grid;grid-template-columns:minmax(240px,1fr) repeat(5,90px) 150px;gap:4px;padding:2px 4px;border-bottom:1px solid #eaeef2;cursor:pointer}
.roofscope .tree .leaf{cursor:default;padding-left:20px}
.roofscope .tree .head{font-weight:600;border-bottom:2px solid #d0d7de;cursor:default;display:grid;grid-template-columns:minmax(240px,1fr) repeat(5,90px) 150px;gap:4px;padding:2px 4px 2px 20px}
.roofscope .tree.m summary,.roofscope .tree.m .leaf,.roofscope .tree.m .head{grid-template-columns:minmax(240px,1fr) repeat(5,90px) 150px 190px}
.roofscope .tree summary{list-style:none}.roofscope .tree summary::-webkit-details-marker{display:none}
.roofscope .tree summary>span:first-child::before{content:"\\25B8  ";color:#57606a}
.roofscope .tree details[open]>summary>span:first-child::before{content:"\\25BE  "}
.roofscope .tree span.n{text-align:right}.roofscope .tree .t{color:#57606a;font-size:12px}
.roofscope table{border-collapse:collapse;font-variant-numeric:tabular-nums}
.roofscope th,.roofscope td{padding:3px 8px;border-bottom:1px solid #eaeef2;text-align:right}
.roofscope th:first-child,.roofscope td:first-child,.roofscope td.l,.roofscope th.l{text-align:left}
.roofscope th{background:#f6f8fa;cursor:pointer;user-select:none;position:sticky;top:0}
.roofscope th[aria-sort=ascending]::after{content:" \\25B2"}.roofscope th[aria-sort=descending]::after{content:" \\25BC"}
.roofscope tr.uncounted td{background:#fff8c5}
.roofscope .chart svg{max-width:100%;height:auto}
.roofscope .memory{color:#cf222e}.roofscope .compute{color:#1a7f37}
"""

_JS = """
(function(){
function sortBy(table,col,asc){
  var ths=table.querySelectorAll('th');
  ths.forEach(function(o){o.removeAttribute('aria-sort');});
  ths[col].setAttribute('aria-sort',asc?'ascending':'descending');
  var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){var x=a.cells[col].getAttribute('data-v'),y=b.cells[col].getAttribute('data-v');
    var nx=parseFloat(x),ny=parseFloat(y),r;
    if(!isNaN(nx)&&!isNaN(ny)){r=nx-ny;}else{r=String(x).localeCompare(String(y));}
    return asc?r:-r;});
  rows.forEach(function(r){body.appendChild(r);});
}
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th,col){th.addEventListener('click',function(){
    sortBy(table,col,th.getAttribute('aria-sort')!=='ascending');});});
  var start=parseInt(table.getAttribute('data-sort')||'0',10);
  sortBy(table,start,false);
  table.setAttribute('data-sortable','ready');
});})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _figures_cells(module: ModuleReport, timed: bool, measured: bool = False) -> str:
    figures = module.total
    cells = [
        si(module.params.total),
        si(figures.macs),
        si(figures.flops),
        nbytes(figures.bytes),
        f"{figures.intensity:.1f}",
        (f'<span class="{figures.bound}">{seconds(figures.predicted_s or 0.0)} {figures.bound or ""}</span>' if timed else "-"),
    ]
    if measured:
        if figures.measured is None:
            cells.append("-")
        else:
            extra = f" eff {percent(figures.efficiency)}" if figures.efficiency is not None else f" {si(figures.achieved_flops or 0)}FLOP/s"
            cells.append(f"{seconds(figures.measured_s or 0.0)}{extra}")
    return "".join(f'<span class="n">{cell}</span>' for cell in cells)


def _tree(module: ModuleReport, report: Report, timed: bool, open_depth: int) -> str:
    label = _e(module.short_name or report.model_name)
    if module.calls > 1:
        label += f" x{module.calls}"
    label += f' <span class="t">{_e(module.type)}</span>'
    row = f"<span>{label}</span>{_figures_cells(module, timed, report.total.measured is not None)}"
    if not module.children:
        return f'<div class="leaf">{row}</div>'
    children = "".join(_tree(child, report, timed, open_depth) for child in module.children)
    opened = " open" if module.depth < open_depth else ""
    return f"<details{opened}><summary>{row}</summary><div>{children}</div></details>"


def _op_table(report: Report) -> str:
    whole = report.total.flops
    measured = report.total.measured_s
    columns = ("op", "family", "calls", "MACs", "FLOPs", "bytes", "FLOP/B", "%FLOPs") + (
        ("measured", "%measured") if measured is not None else ()
    )
    head = "".join(f'<th class="{"l" if i < 2 else ""}">{name}</th>' for i, name in enumerate(columns))
    rows = []
    for summary in report.by_op().values():
        cost = summary.cost
        timed = ""
        if measured is not None:
            time = summary.measured_s
            timed = (
                (
                    f'<td data-v="{time:.6g}">{seconds(time)}</td><td data-v="{100 * time / measured if measured else 0:.6g}">'
                    f"{100 * time / measured if measured else 0:.1f}%</td>"
                )
                if time is not None
                else '<td data-v="-1">-</td>' * 2
            )
        if cost is None:
            rows.append(
                f'<tr class="uncounted"><td data-v="{_e(summary.name)}"><code>{_e(summary.name)}</code></td>'
                f'<td class="l" data-v="uncounted">uncounted</td><td data-v="{summary.calls}">{summary.calls}</td>'
                + '<td data-v="-1">?</td>' * 5
                + timed
                + "</tr>"
            )
            continue
        share = 100 * cost.flops / whole if whole else 0.0
        rows.append(
            f'<tr><td data-v="{_e(summary.name)}"><code>{_e(summary.name)}</code></td>'
            f'<td class="l" data-v="{_e(summary.family)}">{_e(summary.family)}</td>'
            f'<td data-v="{summary.calls}">{summary.calls}</td>'
            f'<td data-v="{cost.macs}">{si(cost.macs)}</td><td data-v="{cost.flops}">{si(cost.flops)}</td>'
            f'<td data-v="{cost.bytes}">{nbytes(cost.bytes)}</td><td data-v="{cost.intensity:.6g}">{cost.intensity:.1f}</td>'
            f'<td data-v="{share:.6g}">{share:.1f}%</td>{timed}</tr>'
        )
    sort = 8 if measured is not None else 4
    return f'<table class="sortable" id="ops" data-sort="{sort}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _shortfalls(report: Report, limit: int = 15) -> str:
    """The ops furthest below their roof, as a sortable table (empty without them)."""
    found = report.shortfalls(limit=limit)
    if not found:
        return ""
    columns = ("op", "module", "roofline", "measured", "lost", "eff", "FLOP/s", "util", "B/s", "bw util", "bound")
    head = "".join(f'<th class="{"l" if i < 2 else ""}">{name}</th>' for i, name in enumerate(columns))
    rows = []
    for record in found:
        timing, measured = record.timing, record.measured
        assert timing is not None and measured is not None
        lost = max(measured.shortfall_s or 0.0, 0.0)
        cells = [
            (timing.roofline_s, seconds(timing.roofline_s)),
            (measured.measured_s, seconds(measured.measured_s)),
            (lost, seconds(lost)),
            (measured.efficiency or 0, percent(measured.efficiency)),
            (measured.achieved_flops or 0, si(measured.achieved_flops or 0)),
            (measured.utilization or 0, percent(measured.utilization)),
            (measured.achieved_bandwidth or 0, nbytes(int(measured.achieved_bandwidth or 0))),
            (measured.bandwidth_utilization or 0, percent(measured.bandwidth_utilization)),
        ]
        rows.append(
            f'<tr><td data-v="{_e(record.name)}"><code>{_e(record.name.removeprefix("aten."))}</code></td>'
            f'<td class="l" data-v="{_e(record.module)}">{_e(record.module or report.model_name)}</td>'
            + "".join(f'<td data-v="{value:.6g}">{text}</td>' for value, text in cells)
            + f'<td class="{timing.bound}" data-v="{timing.bound}">{timing.bound}</td></tr>'
        )
    return (
        '<h2>Furthest below their roof</h2><p class="muted">time lost = measured - roofline; eff = roofline / measured</p>'
        f'<table class="sortable" id="shortfalls" data-sort="4"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _chart(report: Report) -> str:
    if report.device is None or not report.roofs:
        return ""
    try:
        figure = report.plot_roofline(None)
    except ImportError:
        return '<p class="muted">(the roofline chart needs matplotlib)</p>'
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    svg = svg[svg.find("<svg") :]  # drop the XML prolog and doctype: inline SVG in HTML needs neither
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)  # matplotlib's RDF credits: URLs, no content
    return f'<h2>Roofline</h2><div class="chart">{svg}</div>'


def _totals(report: Report) -> str:
    total = report.total
    cards = [
        ("params", si(report.params.total)),
        ("MACs", si(total.macs)),
        ("FLOPs", si(total.flops)),
        ("bytes read", nbytes(total.bytes_read)),
        ("bytes written", nbytes(total.bytes_written)),
        ("intensity", f"{total.intensity:.1f} FLOP/B"),
    ]
    if report.device is not None and total.predicted_s is not None:
        cards += [
            ("roofline", seconds(total.roofline_s or 0.0)),
            (f"predicted ({report.prediction.mode if report.prediction else 'eager'})", seconds(total.predicted_s)),
            ("bound", f"{total.bound} ({100 * (total.memory_bound_share or 0):.0f}% mem)"),
        ]
    run = report.measurement
    if run is not None:
        cards += [("measured forward", seconds(run.forward_s)), ("achieved", f"{si(run.achieved_flops)}FLOP/s")]
        if run.utilization is not None:
            cards.append((f"utilization ({run.peak_label})", percent(run.utilization)))
        if total.efficiency is not None:
            cards.append(("roofline efficiency", percent(total.efficiency)))
    body = "".join(f'<div class="card"><span class="muted">{name}</span><b>{_e(value)}</b></div>' for name, value in cards)
    exact = (
        f'<p class="muted">exact: {total.macs:,} MACs, {total.flops:,} FLOPs, {total.bytes_read:,} bytes read, '
        f"{total.bytes_written:,} bytes written, {report.params.total:,} params</p>"
    )
    predicted = prediction_lines(report)
    if predicted:
        exact += '<p class="muted">' + "<br>".join(_e(line) for line in predicted) + "</p>"
    if run is not None:
        lines = measured_lines(report)
        note = lines.pop() if run.note else None
        exact += '<p class="muted">' + "<br>".join(_e(line) for line in lines) + "</p>"
        exact += f'<div class="warn">{_e(note)}</div>' if note else ""
    return f'<div class="totals">{body}</div>{exact}'


def _uncounted(report: Report) -> str:
    if not report.uncounted:
        return '<div class="ok">Every op call is counted.</div>'
    listed = ", ".join(f"<code>{_e(name)}</code> x{calls}" for name, calls in report.uncounted.items())
    return f'<div class="warn"><b>{sum(report.uncounted.values())} op call(s) have no formula and are NOT in the totals:</b> {listed}</div>'


def to_html(report: Report, *, full: bool = True, open_depth: int = 1, serving: ServingSummary | None = None) -> str:
    """The report as HTML: a whole page (``full=True``) or a fragment for notebooks; ``serving``, a
    transformer's serving summary, is shown after the totals."""
    timed = report.device is not None
    subtitle = f"inputs {', '.join(report.inputs)}"
    if report.device is not None:
        precision = report.precision.name if report.precision else "model dtype"
        subtitle += f"; roofline on {report.device.name}, {precision}"
    measured = report.total.measured is not None
    if measured:
        subtitle += f"; measured on {report.measurement.device}" if report.measurement else ""
    columns = ("params", "MACs", "FLOPs", "bytes", "FLOP/B", "time" if timed else "") + (("measured",) if measured else ())
    head = '<div class="head"><span>module</span>' + "".join(f'<span class="n">{c}</span>' for c in columns) + "</div>"
    parts = [
        f'<div class="roofscope"><style>{_CSS}</style>',
        f'<h1>{_e(report.model_name)}</h1><p class="muted">{_e(subtitle)}</p>',
        _totals(report),
        _uncounted(report),
        f'<h2>Modules</h2><div class="tree{" m" if measured else ""}">{head}{_tree(report.root, report, timed, open_depth)}</div>',
    ]
    if serving is not None:
        parts.insert(3, llm_html(serving))
    if full:
        parts += [f'<h2>Ops</h2><p class="muted">click a column header to sort</p>{_op_table(report)}', _shortfalls(report), _chart(report)]
    parts.append(f'<p class="muted"><i>{_e(report.convention)}</i></p>')
    if report.measurement is not None:
        parts.append(f'<p class="muted"><i>{_e(MEASURED_CONVENTION)}</i></p>')
    parts.append("</div>")
    body = "".join(parts)
    if not full:
        return body
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>roofscope: {_e(report.model_name)}</title></head><body>{body}<script>{_JS}</script></body></html>\n"
    )
