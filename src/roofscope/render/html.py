"""A self-contained HTML report: nothing is fetched from the network.

What it holds: the totals as cards (marked incomplete when ops went uncounted), the uncounted ops,
the module tree as nested ``<details>`` (readable without JavaScript), the op table, the ops
furthest below their roof in a measured report, and with a device the roofline chart as inline SVG,
one circle per op. A few lines of inline JavaScript add: sorting the tree (siblings among
themselves) and the tables by a click on a column header (figures largest first, names A to Z,
a second click reverses), expand-all / collapse-all, a search box that filters modules and ops by
name, and a tooltip on each chart point (op, module, FLOPs, bytes, time). It reads at 800 px: wide
tables scroll inside their box, the tree's name column shrinks first.

``to_html(report, full=False)`` is the fragment notebooks show (``Report._repr_html_``): the same
content without the page around it. It formats what the report holds; it computes nothing but where
to draw a point.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from roofscope.render.llm import llm_html
from roofscope.render.measured import measured_lines
from roofscope.render.prediction import prediction_lines
from roofscope.render.units import nbytes, percent, seconds, si
from roofscope.report import MEASURED_CONVENTION, ModuleReport, Report

if TYPE_CHECKING:
    from roofscope.llm import ServingSummary

__all__ = ["fragment", "page", "sortable_table", "to_html"]

#: The mark beside a figure that leaves out uncounted ops (the warning says which).
INCOMPLETE = "*"

_CSS = """
.roofscope{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:14px;color:#1b1f24;max-width:1200px;box-sizing:border-box}
.roofscope *{box-sizing:border-box}
.roofscope h1{font-size:20px;margin:4px 0}.roofscope h2{font-size:16px;margin:18px 0 6px}
.roofscope .muted{color:#57606a}.roofscope code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.roofscope .totals{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.roofscope .card{border:1px solid #d0d7de;border-radius:6px;padding:6px 10px;background:#f6f8fa;min-width:110px}
.roofscope .card b{display:block;font-size:16px}
.roofscope .card.incomplete{border-color:#cf222e}
.roofscope .mark{color:#cf222e;font-weight:700}
.roofscope .warn{border:2px solid #cf222e;background:#ffebe9;border-radius:6px;padding:8px 12px;margin:10px 0}
.roofscope .ok{border:1px solid #1a7f37;background:#dafbe1;border-radius:6px;padding:6px 12px;margin:10px 0}
.roofscope .toolbar{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:8px 0}
.roofscope .toolbar button{font:inherit;padding:3px 10px;border:1px solid #d0d7de;border-radius:6px;background:#f6f8fa;cursor:pointer}
.roofscope .toolbar input{font:inherit;padding:3px 8px;border:1px solid #d0d7de;border-radius:6px;min-width:220px}
.roofscope .scroll{overflow-x:auto;max-width:100%}
.roofscope .tree{font-variant-numeric:tabular-nums;min-width:max-content}
.roofscope .tree .row{display:grid;grid-template-columns:var(--cols);gap:4px;padding:2px 4px;border-bottom:1px solid #eaeef2}
.roofscope .tree summary.row{cursor:pointer;list-style:none}
.roofscope .tree summary::-webkit-details-marker{display:none}
.roofscope .tree .head{font-weight:600;border-bottom:2px solid #d0d7de;background:#f6f8fa;position:sticky;top:0}
.roofscope .tree .head span{cursor:pointer;user-select:none}
.roofscope .tree .head span[aria-sort=ascending]::after{content:" \\25B2"}.roofscope .tree .head span[aria-sort=descending]::after{content:" \\25BC"}
.roofscope .tree .name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;padding-left:calc(var(--depth,0)*1.1em)}
.roofscope .tree summary>.name::before{content:"\\25B8 ";color:#57606a}
.roofscope .tree details[open]>summary>.name::before{content:"\\25BE "}
.roofscope .tree .leaf>.name{padding-left:calc(var(--depth,0)*1.1em + 1em)}
.roofscope .tree span.n{text-align:right;white-space:nowrap}.roofscope .tree .t{color:#57606a;font-size:12px}
.roofscope .tree .hidden,.roofscope tr.hidden{display:none}
.roofscope .tree .match>.name,.roofscope tr.match td:first-child{background:#fff8c5}
.roofscope table{border-collapse:collapse;font-variant-numeric:tabular-nums}
.roofscope th,.roofscope td{padding:3px 8px;border-bottom:1px solid #eaeef2;text-align:right;white-space:nowrap}
.roofscope th:first-child,.roofscope td:first-child,.roofscope td.l,.roofscope th.l{text-align:left}
.roofscope th{background:#f6f8fa;cursor:pointer;user-select:none;position:sticky;top:0}
.roofscope th[aria-sort=ascending]::after{content:" \\25B2"}.roofscope th[aria-sort=descending]::after{content:" \\25BC"}
.roofscope tr.uncounted td{background:#fff8c5}
.roofscope .chart{position:relative;max-width:900px}
.roofscope .chart svg{width:100%;height:auto;font-size:11px}
.roofscope .chart circle{cursor:pointer;stroke:#1b1f24;stroke-width:0.5;fill-opacity:0.6}
.roofscope .chart circle.memory{fill:#cf222e}.roofscope .chart circle.compute{fill:#1a7f37}
.roofscope .chart circle:hover{fill-opacity:1;stroke-width:1.5}
.roofscope .tip{position:absolute;pointer-events:none;background:#1b1f24;color:#fff;border-radius:4px;padding:4px 8px;font-size:12px;white-space:pre;display:none;z-index:2}
.roofscope .memory{color:#cf222e}.roofscope .compute{color:#1a7f37}
@media (max-width:900px){.roofscope{font-size:13px}.roofscope .toolbar input{min-width:0;flex:1}}
"""

# Sorting: a click on a header sorts by that column, figures largest first and text A to Z, and a
# second click reverses; the tree sorts each module's children among themselves. Search shows the
# modules (with their parents, opened) and the ops whose name contains the text. Chart points show
# their data-tip in a tooltip.
_JS = """
(function(root){
if(!root||root.getAttribute('data-ready'))return;
root.setAttribute('data-ready','1');
function key(cell){var v=cell.getAttribute('data-v')||'',n=Number(v);return v!==''&&!isNaN(n)?{t:0,v:n}:{t:1,v:v};}
function cmp(a,b){return a.t!==b.t?a.t-b.t:(a.t?a.v.localeCompare(b.v):a.v-b.v);}
function direction(head){var now=head.getAttribute('aria-sort');var text=head.getAttribute('data-type')==='text';
  if(!now)return text?1:-1;return now==='ascending'?-1:1;}
function mark(heads,head,dir){heads.forEach(function(h){h.removeAttribute('aria-sort');});head.setAttribute('aria-sort',dir>0?'ascending':'descending');}
root.querySelectorAll('table.sortable').forEach(function(table){
  var heads=Array.prototype.slice.call(table.tHead.rows[0].cells);
  function sortBy(col,dir){mark(heads,heads[col],dir);var body=table.tBodies[0];
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){return dir*cmp(key(a.cells[col]),key(b.cells[col]));});
    rows.forEach(function(r){body.appendChild(r);});}
  heads.forEach(function(th,col){th.addEventListener('click',function(){sortBy(col,direction(th));});});
  var start=table.getAttribute('data-sort');if(start!==null)sortBy(parseInt(start,10),-1);
  table.setAttribute('data-sortable','ready');
});
var tree=root.querySelector('.tree');
if(tree){var heads=Array.prototype.slice.call(tree.querySelectorAll('.head span'));
  function rowOf(node){return node.tagName==='DETAILS'?node.firstElementChild:node;}
  function sortTree(col,dir){mark(heads,heads[col],dir);
    tree.querySelectorAll('.kids').forEach(function(kids){var nodes=Array.prototype.slice.call(kids.children);
      nodes.sort(function(a,b){return dir*cmp(key(rowOf(a).children[col]),key(rowOf(b).children[col]));});
      nodes.forEach(function(n){kids.appendChild(n);});});}
  heads.forEach(function(h,col){h.addEventListener('click',function(){sortTree(col,direction(h));});});
  tree.setAttribute('data-sortable','ready');}
function all(open){root.querySelectorAll('.tree details').forEach(function(d){d.open=open;});}
var ex=root.querySelector('button.expand'),co=root.querySelector('button.collapse');
if(ex)ex.addEventListener('click',function(){all(true);});if(co)co.addEventListener('click',function(){all(false);});
var search=root.querySelector('input.search');
if(search)search.addEventListener('input',function(){var q=search.value.trim().toLowerCase();
  root.querySelectorAll('.tree .node').forEach(function(n){n.classList.remove('hidden','match');});
  root.querySelectorAll('table.searchable tbody tr').forEach(function(r){
    var hit=!q||r.cells[0].textContent.toLowerCase().indexOf(q)>=0||(r.cells[1]&&r.cells[1].textContent.toLowerCase().indexOf(q)>=0);
    r.classList.toggle('hidden',!hit);r.classList.toggle('match',!!q&&hit);});
  if(!q)return;
  var nodes=Array.prototype.slice.call(root.querySelectorAll('.tree .node')).reverse();
  nodes.forEach(function(n){var own=(n.getAttribute('data-name')||'').toLowerCase().indexOf(q)>=0;
    var below=n.querySelector(':scope>.kids>.node:not(.hidden)')!==null;
    if(own)n.classList.add('match');
    if(!own&&!below)n.classList.add('hidden');else if(n.tagName==='DETAILS'&&below)n.open=true;});});
var chart=root.querySelector('.chart'),tip=root.querySelector('.chart .tip');
if(chart&&tip)chart.querySelectorAll('circle[data-tip]').forEach(function(c){
  c.addEventListener('mouseenter',function(e){tip.textContent=c.getAttribute('data-tip');tip.style.display='block';
    var box=chart.getBoundingClientRect(),r=c.getBoundingClientRect();
    tip.style.left=Math.min(r.left-box.left+12,box.width-tip.offsetWidth)+'px';tip.style.top=(r.top-box.top-tip.offsetHeight-6)+'px';});
  c.addEventListener('mouseleave',function(){tip.style.display='none';});});
})(document.currentScript&&document.currentScript.closest('.roofscope'));
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _v(value: object) -> str:
    """A sort key as a data-v attribute: numbers as they compare, text as it reads."""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else "0"
    return _e(value)


def page(title: str, body: str) -> str:
    """A whole self-contained page around ``body`` (a roofscope fragment), with the style and script."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>roofscope: {_e(title)}</title></head><body>{fragment(body)}</body></html>\n"
    )


def fragment(body: str) -> str:
    """``body`` with the report's style and script, as a notebook shows it."""
    return f'<div class="roofscope"><style>{_CSS}</style>{body}<script>{_JS}</script></div>'


def sortable_table(
    table_id: str,
    headers: Sequence[str],
    rows: Sequence[tuple[Sequence[tuple[Any, str]], str]],
    *,
    text_columns: int = 1,
    sort: int | None = None,
) -> str:
    """A table that sorts on a click of its header: ``rows`` are (cells, row class), each cell a
    (sort value, text shown); the first ``text_columns`` columns are text (sorted A to Z first), the
    others figures (largest first). ``sort``: the column it starts sorted by, largest first."""
    head = "".join(
        f'<th class="l" data-type="text">{_e(name)}</th>' if index < text_columns else f'<th data-type="num">{_e(name)}</th>'
        for index, name in enumerate(headers)
    )
    body = []
    for cells, row_class in rows:
        tds = "".join(
            f'<td{" class=l" if index < text_columns else ""} data-v="{_v(value)}">{text}</td>' for index, (value, text) in enumerate(cells)
        )
        body.append(f'<tr class="{row_class}">{tds}</tr>' if row_class else f"<tr>{tds}</tr>")
    start = f' data-sort="{sort}"' if sort is not None else ""
    return (
        f'<div class="scroll"><table class="sortable searchable" id="{_e(table_id)}"{start}>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _columns(report: Report) -> list[str]:
    """The module tree's figure columns, each labelled."""
    columns = ["params", "MACs", "FLOPs", "bytes", "FLOP/B", "%FLOPs"]
    if report.device is not None:
        columns += ["time", "%time", "bound"]
    if report.total.measured is not None:
        columns += ["measured", "FLOP/s"] + (["util", "eff"] if report.device is not None else [])
    return columns


def _module_cells(module: ModuleReport, report: Report) -> list[tuple[Any, str]]:
    figures = module.total
    whole = report.total.flops
    share = 100 * figures.flops / whole if whole else 0.0
    mark = "" if module.complete else f'<span class="mark" title="incomplete: uncounted ops below">{INCOMPLETE}</span>'
    cells: list[tuple[Any, str]] = [
        (module.params.total, si(module.params.total)),
        (figures.macs, si(figures.macs) + mark),
        (figures.flops, si(figures.flops) + mark),
        (figures.bytes, nbytes(figures.bytes) + mark),
        (figures.intensity, f"{figures.intensity:.1f}"),
        (share, f"{share:.1f}%"),
    ]
    if report.device is not None:
        whole_time = report.total.predicted_s or 0.0
        time = figures.predicted_s or 0.0
        cells += [
            (time, seconds(time)),
            (100 * time / whole_time if whole_time else 0.0, f"{100 * time / whole_time:.1f}%" if whole_time else "-"),
            (figures.bound or "", f'<span class="{figures.bound}">{figures.bound}</span>' if figures.bound else "-"),
        ]
    if report.total.measured is not None:
        if figures.measured is None:
            cells += [(-1, "-")] * (4 if report.device is not None else 2)
        else:
            cells += [
                (figures.measured_s or 0.0, seconds(figures.measured_s or 0.0)),
                (figures.achieved_flops or 0.0, si(figures.achieved_flops or 0.0)),
            ]
            if report.device is not None:
                cells += [
                    (figures.utilization or 0.0, percent(figures.utilization)),
                    (figures.efficiency or 0.0, percent(figures.efficiency)),
                ]
    return cells


def _tree(module: ModuleReport, report: Report, open_depth: int) -> str:
    label = _e(module.short_name or report.model_name)
    if module.calls > 1:
        label += f" x{module.calls}"
    label += f' <span class="t">{_e(module.type)}</span>'
    name = module.name or report.model_name
    cells = "".join(f'<span class="n" data-v="{_v(value)}">{text}</span>' for value, text in _module_cells(module, report))
    row = f'<span class="name" style="--depth:{module.depth}" data-v="{_e(name)}" title="{_e(name)}">{label}</span>{cells}'
    if not module.children:
        return f'<div class="node leaf row" data-name="{_e(name)}">{row}</div>'
    children = "".join(_tree(child, report, open_depth) for child in module.children)
    opened = " open" if module.depth < open_depth else ""
    return f'<details class="node" data-name="{_e(name)}"{opened}><summary class="row">{row}</summary><div class="kids">{children}</div></details>'


def _module_tree(report: Report, open_depth: int) -> str:
    columns = _columns(report)
    widths = "minmax(160px,1fr) " + " ".join("76px" if c != "bound" else "70px" for c in columns)
    head = '<div class="row head"><span data-type="text">module</span>' + "".join(
        f'<span class="n" data-type="num">{_e(c)}</span>' for c in columns
    )
    head += "</div>"
    return (
        '<h2>Modules</h2><p class="muted">a module\'s figures include everything below it; click a column to sort each '
        "module's children by it"
        + (f"; {INCOMPLETE} = leaves out uncounted ops" if not report.complete else "")
        + f'</p><div class="scroll"><div class="tree" style="--cols:{widths}">{head}<div class="kids">{_tree(report.root, report, open_depth)}</div></div></div>'
    )


def _op_table(report: Report) -> str:
    whole = report.total.flops
    measured = report.total.measured_s
    headers = ["op", "family", "calls", "MACs", "FLOPs", "bytes", "FLOP/B", "%FLOPs"] + (
        ["measured", "%measured"] if measured is not None else []
    )
    rows = []
    for summary in report.by_op().values():
        cost = summary.cost
        timed: list[tuple[Any, str]] = []
        if measured is not None:
            time = summary.measured_s
            timed = (
                [(time, seconds(time)), (100 * time / measured if measured else 0.0, f"{100 * time / measured if measured else 0:.1f}%")]
                if time is not None
                else [(-1, "-"), (-1, "-")]
            )
        name = (summary.name, f"<code>{_e(summary.name)}</code>")
        if cost is None:
            rows.append(([name, ("uncounted", "uncounted"), (summary.calls, str(summary.calls)), *[(-1, "?")] * 5, *timed], "uncounted"))
            continue
        share = 100 * cost.flops / whole if whole else 0.0
        cells = [
            name,
            (summary.family, _e(summary.family)),
            (summary.calls, str(summary.calls)),
            (cost.macs, si(cost.macs)),
            (cost.flops, si(cost.flops)),
            (cost.bytes, nbytes(cost.bytes)),
            (cost.intensity, f"{cost.intensity:.1f}"),
            (share, f"{share:.1f}%"),
            *timed,
        ]
        rows.append((cells, ""))
    return sortable_table("ops", headers, rows, text_columns=2, sort=8 if measured is not None else 4)


def _shortfalls(report: Report, limit: int = 15) -> str:
    """The ops furthest below their roof, as a sortable table (empty without them)."""
    found = report.shortfalls(limit=limit)
    if not found:
        return ""
    headers = ["op", "module", "roofline", "measured", "lost", "eff", "FLOP/s", "util", "B/s", "bw util", "bound"]
    rows = []
    for record in found:
        timing, measured = record.timing, record.measured
        assert timing is not None and measured is not None
        lost = max(measured.shortfall_s or 0.0, 0.0)
        cells: list[tuple[Any, str]] = [
            (record.name, f"<code>{_e(record.name.removeprefix('aten.'))}</code>"),
            (record.module, _e(record.module or report.model_name)),
            (timing.roofline_s, seconds(timing.roofline_s)),
            (measured.measured_s, seconds(measured.measured_s)),
            (lost, seconds(lost)),
            (measured.efficiency or 0.0, percent(measured.efficiency)),
            (measured.achieved_flops or 0.0, si(measured.achieved_flops or 0)),
            (measured.utilization or 0.0, percent(measured.utilization)),
            (measured.achieved_bandwidth or 0.0, nbytes(int(measured.achieved_bandwidth or 0))),
            (measured.bandwidth_utilization or 0.0, percent(measured.bandwidth_utilization)),
            (timing.roofline_bound or "", f'<span class="{timing.roofline_bound}">{timing.roofline_bound}</span>'),
        ]
        rows.append((cells, ""))
    return (
        '<h2>Furthest below their roof</h2><p class="muted">time lost = measured - roofline; eff = roofline / measured</p>'
        + sortable_table("shortfalls", headers, rows, text_columns=2, sort=4)
    )


# The chart's frame in SVG units: width, height, and the margins around the plot area.
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 760, 460, 64, 16, 18, 44


def _chart(report: Report) -> str:
    """The roofline as inline SVG: a roof per precision in play, one circle per op with FLOPs and
    bytes at (intensity, attainable FLOP/s), area by predicted time, a tooltip on each."""
    if report.device is None or not report.roofs:
        return ""
    points = [r for r in report.ops if r.timing is not None and r.timing.flops and r.timing.bytes and r.timing.predicted_s]
    if not points:
        return ""
    roofs = report.roofs
    xs = [r.timing.intensity for r in points if r.timing] + [roof.ridge for roof in roofs]
    x_low, x_high = min(xs) / 4, max(xs) * 4
    ys = [r.timing.attainable for r in points if r.timing] + [roof.peak for roof in roofs]
    y_high = max(ys) * 3
    y_low = min(min(ys) / 3, x_low * report.device.memory_bandwidth)

    def x_of(value: float) -> float:
        return _LEFT + (math.log10(value) - math.log10(x_low)) / (math.log10(x_high) - math.log10(x_low)) * (_W - _LEFT - _RIGHT)

    def y_of(value: float) -> float:
        return _TOP + (math.log10(y_high) - math.log10(value)) / (math.log10(y_high) - math.log10(y_low)) * (_H - _TOP - _BOTTOM)

    parts = [f'<rect x="{_LEFT}" y="{_TOP}" width="{_W - _LEFT - _RIGHT}" height="{_H - _TOP - _BOTTOM}" fill="none" stroke="#d0d7de"/>']
    for exponent in range(math.ceil(math.log10(x_low)), math.floor(math.log10(x_high)) + 1):
        x = x_of(10.0**exponent)
        parts.append(f'<line x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{_H - _BOTTOM}" stroke="#eaeef2"/>')
        parts.append(f'<text x="{x:.1f}" y="{_H - _BOTTOM + 14}" text-anchor="middle" fill="#57606a">{10.0**exponent:g}</text>')
    for exponent in range(math.ceil(math.log10(y_low)), math.floor(math.log10(y_high)) + 1):
        y = y_of(10.0**exponent)
        parts.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_W - _RIGHT}" y2="{y:.1f}" stroke="#eaeef2"/>')
        parts.append(f'<text x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#57606a">{si(10.0**exponent)}</text>')
    parts.append(f'<text x="{(_LEFT + _W - _RIGHT) / 2}" y="{_H - 8}" text-anchor="middle">arithmetic intensity (FLOP / byte)</text>')
    parts.append(
        f'<text x="14" y="{(_TOP + _H - _BOTTOM) / 2}" text-anchor="middle" transform="rotate(-90 14 {(_TOP + _H - _BOTTOM) / 2})">attainable FLOP/s</text>'
    )
    colors = itertools.cycle(["#1f4e9c", "#8e44ad", "#b8860b", "#555555"])
    for index, (roof, color) in enumerate(zip(roofs, colors)):
        dash = "" if roof.label.endswith("matrix") else ' stroke-dasharray="6 4"'
        start_y = x_low * roof.bandwidth
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} '
            f'points="{x_of(x_low):.1f},{y_of(start_y):.1f} {x_of(roof.ridge):.1f},{y_of(roof.peak):.1f} {x_of(x_high):.1f},{y_of(roof.peak):.1f}"/>'
        )
        parts.append(
            f'<text x="{x_of(x_high) - 4:.1f}" y="{y_of(roof.peak) - 4 - 12 * index:.1f}" text-anchor="end" fill="{color}">'
            f"{_e(roof.label)} {si(roof.peak)}FLOP/s, ridge {roof.ridge:.0f}</text>"
        )
    largest = max(r.timing.predicted_s for r in points if r.timing)
    for record in sorted(points, key=lambda r: -(r.timing.predicted_s if r.timing else 0)):
        timing, cost = record.timing, record.cost
        assert timing is not None and cost is not None
        radius = 2.5 + 12 * math.sqrt(timing.predicted_s / largest)
        tip = (
            f"{record.name.removeprefix('aten.')} @ {record.module or report.model_name}\n"
            f"FLOPs {si(cost.flops)}, bytes {nbytes(cost.bytes)}, intensity {timing.intensity:.1f}\n"
            f"time {seconds(timing.predicted_s)}, {timing.bound}-bound ({timing.peak_label} peak)"
        )
        parts.append(
            f'<circle class="{timing.bound}" cx="{x_of(timing.intensity):.1f}" cy="{y_of(timing.attainable):.1f}" r="{radius:.1f}" data-tip="{_e(tip)}"/>'
        )
    svg = f'<svg viewBox="0 0 {_W} {_H}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="roofline chart">{"".join(parts)}</svg>'
    return (
        f'<h2>Roofline</h2><p class="muted">one circle per op (area ~ predicted time; red memory-bound, green compute-bound); '
        f'hover for its figures</p><div class="chart">{svg}<div class="tip"></div></div>'
    )


def _totals(report: Report) -> str:
    total = report.total
    mark = "" if report.complete else f' <span class="mark">{INCOMPLETE}</span>'
    counted = [
        ("MACs", si(total.macs)),
        ("FLOPs", si(total.flops)),
        ("bytes read", nbytes(total.bytes_read)),
        ("bytes written", nbytes(total.bytes_written)),
    ]
    cards: list[tuple[str, str, bool]] = [("params", _e(si(report.params.total)), False)]
    cards += [(name, _e(value) + mark, not report.complete) for name, value in counted]
    cards.append(("intensity", _e(f"{total.intensity:.1f} FLOP/B"), False))
    if report.device is not None and total.predicted_s is not None:
        precision = report.precision.name if report.precision else "model dtype"
        mode = report.prediction.mode if report.prediction else "eager"
        cards += [
            (f"roofline ({precision})", _e(seconds(total.roofline_s or 0.0)) + mark, not report.complete),
            (f"predicted ({mode})", _e(seconds(total.predicted_s)) + mark, not report.complete),
            ("bound", _e(f"{total.bound} ({100 * (total.memory_bound_share or 0):.0f}% mem)"), False),
        ]
    run = report.measurement
    if run is not None:
        cards += [("measured forward", _e(seconds(run.forward_s)), False), ("achieved", _e(f"{si(run.achieved_flops)}FLOP/s"), False)]
        if run.utilization is not None:
            cards.append((f"utilization ({run.peak_label})", _e(percent(run.utilization)), False))
        if total.efficiency is not None:
            cards.append(("roofline efficiency", _e(percent(total.efficiency)), False))
    body = "".join(
        f'<div class="card{" incomplete" if incomplete else ""}"><span class="muted">{_e(name)}</span><b>{value}</b></div>'
        for name, value, incomplete in cards
    )
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
    if report.complete:
        return '<div class="ok">Every op call is counted.</div>'
    listed = ", ".join(f"<code>{_e(name)}</code> x{calls}" for name, calls in report.uncounted.items())
    return (
        f'<div class="warn"><b>{INCOMPLETE} incomplete: {sum(report.uncounted.values())} op call(s) have no formula and are NOT in '
        f"the totals:</b> {listed}</div>"
    )


def to_html(report: Report, *, full: bool = True, open_depth: int = 1, serving: ServingSummary | None = None) -> str:
    """The report as HTML: a whole page (``full=True``) or a fragment for notebooks (the same
    content, with its style and script, without the page); ``serving``, a transformer's serving
    summary, is shown after the totals."""
    subtitle = f"inputs {', '.join(report.inputs)}"
    if report.device is not None:
        precision = report.precision.name if report.precision else "model dtype"
        subtitle += f"; roofline on {report.device.name}, {precision}"
    if report.measurement is not None:
        subtitle += f"; measured on {report.measurement.device}"
    parts = [
        f'<h1>{_e(report.model_name)}</h1><p class="muted">{_e(subtitle)}</p>',
        _totals(report),
        _uncounted(report),
    ]
    if serving is not None:
        parts.append(llm_html(serving))
    parts += [
        '<div class="toolbar"><button type="button" class="expand">expand all</button><button type="button" class="collapse">collapse all</button>'
        '<input type="search" class="search" placeholder="search modules and ops" aria-label="search modules and ops"></div>',
        _module_tree(report, open_depth),
        '<h2>Ops</h2><p class="muted">all calls of each op; click a column header to sort</p>' + _op_table(report),
        _shortfalls(report),
        _chart(report),
        f'<p class="muted"><i>{_e(report.convention)}</i></p>',
    ]
    if report.measurement is not None:
        parts.append(f'<p class="muted"><i>{_e(MEASURED_CONVENTION)}</i></p>')
    body = "".join(parts)
    return page(report.model_name, body) if full else fragment(body)
