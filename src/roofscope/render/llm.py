"""The serving summary of a transformer (``roofscope.llm.ServingSummary``), for the terminal and
Markdown. It formats what the summary holds; it computes nothing."""

from __future__ import annotations

import json
from typing import Any

from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from roofscope.render.sweep import columns_text
from roofscope.render.units import nbytes, seconds, si

__all__ = [
    "llm_html",
    "llm_items",
    "llm_markdown",
    "plan_table",
    "presets_table",
    "render_llm_summary",
    "serving_rows_table",
    "serving_rows_text",
    "training_step_table",
]


def _params(summary: Any, exact: bool) -> str:
    text = si(summary.params, exact=exact)
    if summary.moe:
        without = si(summary.active_params_without_embedding, exact=exact)
        text = f"{si(summary.active_params, exact=exact)} active per token ({without} without the embedding table) of {text} (mixture of experts)"
    return text


_TRAFFIC = {
    "serving": (
        "serving: the KV cache read once, only the new tokens' entries written, the element-wise ops between"
        " the matrix ops fused (docs/conventions.md, Serving traffic)"
    ),
    "eager": "eager: as transformers' own code runs, its cache concatenated anew each layer and step",
}


#: What the prefill computes, unlike a plain forward of the prompt (which computes every position's logits).
_PREFILL = "logits of the last token only, as generation does"


def _kv(summary: Any, exact: bool) -> str:
    layout = f"; {summary.cache_layout}" if summary.cache_layout else ""
    return f"{nbytes(summary.kv_cache_bytes, exact=exact)} at {summary.context} tokens x batch {summary.batch}{layout}"


def _memory(summary: Any, exact: bool, memory: Any = None) -> tuple[str, str | None, str]:
    """(the sum, the capacity verdict or None, its style), of ``memory`` (default: the summary's)."""
    memory = summary.memory if memory is None else memory
    text = (
        f"{nbytes(memory.total, exact=exact)} = weights {nbytes(memory.weights, exact=exact)}"
        f" + KV cache {nbytes(memory.kv_cache, exact=exact)} + activations {nbytes(memory.activations, exact=exact)}"
    )
    if memory.fits is None:
        reason = "no device" if summary.device is None else "the device has no capacity figure"
        return text, f"capacity unknown ({reason})", "yellow"
    capacity = nbytes(int(memory.capacity), exact=exact)
    if memory.fits:
        return text, f"fits in {capacity} ({100 * memory.share:.0f}%, {nbytes(int(memory.free), exact=exact)} free)", "green"
    return text, f"does NOT fit in {capacity} ({nbytes(int(-memory.free), exact=exact)} short)", "bold red"


def _step(step: Any, exact: bool) -> str:
    moved = f"{si(step.flops, exact=exact)} FLOPs, {nbytes(step.bytes, exact=exact)} moved"
    if step.seconds is None:
        return moved
    return f"{seconds(step.seconds)}  ({moved}, {step.bound}-bound)"


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _heading(summary: Any) -> str:
    where = f" on {summary.device}" if summary.device else ", no device (give one for times and capacity)"
    return (
        f"{summary.model}{where}, {summary.precision}, batch {summary.batch}, "
        f"prompt {summary.seq_len} tokens, decode at context {summary.context}"
    )


_KIND_PLURAL = {"all-reduce": "all-reduces", "all-gather": "all-gathers", "reduce-scatter": "reduce-scatters", "all-to-all": "all-to-alls"}


def _layout(parallel: Any) -> str:
    layout = parallel.layout
    nodes = f"{parallel.nodes} node{'s' if parallel.nodes != 1 else ''}"
    link = f"; {parallel.interconnect}" if parallel.interconnect else ""
    return f"{layout.describe()} = {layout.gpus} GPUs ({nodes}), batch {parallel.batch} per replica{link}"


def _collectives(step: Any, exact: bool) -> str:
    parts = []
    for c in step.collectives:
        kind = _KIND_PLURAL.get(c.kind, c.kind) if c.count != 1 else c.kind
        parts.append(
            f"{c.count} {c.parallelism} {kind} of {nbytes(c.message, exact=exact)} ({c.where}; {nbytes(c.wire_bytes, exact=exact)} on the wire each"
            + (f", {seconds(c.seconds)})" if c.seconds is not None else ")")
        )
    return "; ".join(parts) if parts else "none"


def _parallel_step(step: Any, exact: bool) -> str:
    moved = f"per GPU {si(step.flops, exact=exact)} FLOPs, {nbytes(step.bytes, exact=exact)} moved"
    if step.seconds is None:
        return moved
    share = f"{100 * step.collective_share:.1f}%" if step.collective_share is not None else "-"
    return (
        f"{seconds(step.seconds)} = compute {seconds(step.compute_s)} + collectives {seconds(step.collective_s)} "
        f"({share} of the step, not overlapped)  ({moved})"
    )


def _parallel_items(summary: Any, exact: bool) -> list[tuple[str, Any, str | None, str]]:
    """(label, text, verdict, verdict style) of the rows a split model shows instead of one GPU's."""
    parallel = summary.parallel
    text, verdict, style = _memory(summary, exact, parallel.memory)
    items: list[tuple[str, Any, str | None, str]] = [
        ("layout", _layout(parallel), None, ""),
        ("memory per GPU", text, verdict, style),
        ("prefill", _parallel_step(parallel.prefill, exact), None, ""),
        ("per output token", _parallel_step(parallel.decode, exact), None, ""),
        ("collectives", f"per output token: {_collectives(parallel.decode, exact)}", None, ""),
    ]
    if parallel.tokens_per_second is not None:
        rate = f"{_rate(parallel.tokens_per_second)} over {parallel.layout.dp} replica{'s' if parallel.layout.dp != 1 else ''}"
        items.append(
            ("tokens/s", f"{rate}, {_rate(parallel.tokens_per_second_per_gpu)} per GPU (dp x batch / time per output token)", None, "")
        )
    return items


def render_llm_summary(summary: Any, *, exact: bool = False) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("params", _params(summary, exact))
    grid.add_row("KV cache", _kv(summary, exact))
    if summary.parallel is not None:
        for label, text, verdict, style in _parallel_items(summary, exact):
            line = Text(text)
            if verdict:
                line.append("  ")
                line.append(verdict, style=style)
            grid.add_row(label, line)
        grid.add_row("traffic", _TRAFFIC.get(summary.traffic, summary.traffic))
        return Panel(grid, title=f"LLM serving: {_heading(summary)}", title_align="left", border_style="cyan", expand=False)
    text, verdict, style = _memory(summary, exact)
    line = Text(text)
    if verdict:
        line.append("  ")
        line.append(verdict, style=style)
    grid.add_row("memory", line)
    grid.add_row("prefill", f"{_step(summary.prefill, exact)}; {_PREFILL}")
    grid.add_row("per output token", _step(summary.decode, exact))
    if summary.tokens_per_second is not None:
        grid.add_row("tokens/s", f"{_rate(summary.tokens_per_second)}  (batch / time per output token)")
    grid.add_row("traffic", _TRAFFIC.get(summary.traffic, summary.traffic))
    return Panel(grid, title=f"LLM serving: {_heading(summary)}", title_align="left", border_style="cyan", expand=False)


def llm_items(summary: Any, *, exact: bool = False) -> list[tuple[str, str]]:
    """(label, text) per line of the summary, for Markdown and HTML."""
    if summary.parallel is not None:
        items = [("params", _params(summary, exact)), ("KV cache", _kv(summary, exact))]
        items += [(label, text + (f"; {verdict}" if verdict else "")) for label, text, verdict, _ in _parallel_items(summary, exact)]
        return [*items, ("traffic", _TRAFFIC.get(summary.traffic, summary.traffic))]
    text, verdict, _ = _memory(summary, exact)
    items = [
        ("params", _params(summary, exact)),
        ("KV cache", _kv(summary, exact)),
        ("memory", text + (f"; {verdict}" if verdict else "")),
        ("prefill", f"{_step(summary.prefill, exact)}; {_PREFILL}"),
        ("per output token", _step(summary.decode, exact)),
    ]
    if summary.tokens_per_second is not None:
        items.append(("tokens/s", f"{_rate(summary.tokens_per_second)} (batch / time per output token)"))
    items.append(("traffic", _TRAFFIC.get(summary.traffic, summary.traffic)))
    return items


def llm_markdown(summary: Any, *, exact: bool = False) -> str:
    lines = ["## LLM serving", "", _heading(summary), ""]
    lines += [f"- {label}: {text}" for label, text in llm_items(summary, exact=exact)]
    return "\n".join(lines) + "\n"


def _phase_row(name: str, step: Any) -> str:
    from html import escape

    intensity = "-" if step.intensity is None else f"{step.intensity:.1f}"
    time = "-" if step.seconds is None else escape(seconds(step.seconds))
    return (
        f'<tr><td class="l">{escape(name)}</td><td>{step.tokens:,}</td><td>{escape(si(step.flops))}</td><td>{escape(nbytes(step.bytes))}</td>'
        f'<td>{intensity}</td><td>{time}</td><td class="{step.bound or ""}">{step.bound or "-"}</td></tr>'
    )


def llm_html(summary: Any) -> str:
    """The serving section of the HTML report: prefill and decode side by side, then the panel's lines."""
    from html import escape

    items = "".join(f"<li><b>{escape(label)}</b>: {escape(text)}</li>" for label, text in llm_items(summary))
    phases = _phase_row("prefill (the prompt)", summary.prefill) + _phase_row("decode (one token per sequence)", summary.decode)
    table = (
        '<div class="scroll"><table class="phases"><thead><tr><th class="l">phase</th><th>tokens</th><th>FLOPs</th><th>bytes</th>'
        f"<th>FLOP/B</th><th>time</th><th>bound</th></tr></thead><tbody>{phases}</tbody></table></div>"
    )
    return f'<h2>LLM serving</h2><p class="muted">{escape(_heading(summary))}</p>{table}<ul>{items}</ul>'


def presets_table(presets: Any, *, exact: bool = False) -> Table:
    """The built-in presets (``roofscope.llm.preset_summaries``), one row each."""
    table = Table(title="transformer presets (built on the meta device from their published config.json)", title_justify="left")
    for column in ("preset", "model type", "head", "dtype", "params", "active", "source"):
        table.add_column(column, justify="right" if column in ("params", "active") else "left", no_wrap=column != "source")
    for preset in presets:
        active = si(preset.active_params, exact=exact) if preset.active_params != preset.params else ""
        table.add_row(preset.name, preset.model_type, preset.head, preset.dtype, si(preset.params, exact=exact), active, preset.source)
    return table


def _serving_row(summary: Any) -> dict[str, Any]:
    """The columns of one serving row, from the summary's own figures."""
    memory = summary.memory
    return {
        "model": summary.model,
        "batch": summary.batch,
        "prompt": summary.seq_len,
        "context": summary.context,
        "ttft_s": summary.prefill_s,
        "tpot_s": summary.time_per_output_token,
        "tokens_per_s": summary.tokens_per_second,
        "kv_cache_bytes": summary.kv_cache_bytes,
        "memory_bytes": memory.total,
        "fits": memory.fits,
        "decode_bound": summary.decode.bound,
        "traffic": summary.traffic,
    }


def serving_rows_table(rows: list[Any], *, first: str, exact: bool = False) -> Table:
    """Serving summaries side by side (``first``: "batch" over a sweep, "model" for a comparison):
    time to first token, time per output token, tokens/s, KV cache and memory against capacity."""
    table = Table(title_justify="left")
    table.add_column(first, overflow="fold")
    for column in ("TTFT", "TPOT", "tokens/s", "KV cache", "memory", "fits", "decode"):
        table.add_column(column, justify="right", overflow="fold")
    for summary in rows:
        row = _serving_row(summary)
        fits = "-" if row["fits"] is None else ("yes" if row["fits"] else "NO")
        table.add_row(
            str(row[first]),
            seconds(row["ttft_s"]) if row["ttft_s"] is not None else "-",
            seconds(row["tpot_s"]) if row["tpot_s"] is not None else "-",
            _rate(row["tokens_per_s"]) if row["tokens_per_s"] is not None else "-",
            nbytes(row["kv_cache_bytes"], exact=exact),
            nbytes(row["memory_bytes"], exact=exact),
            fits,
            row["decode_bound"] or "-",
        )
    return table


def serving_rows_text(rows: list[Any], fmt: str, *, largest_batch: int | None = None) -> str:
    """The serving rows as JSON (each summary's ``to_dict``, with ``largest_batch`` for a sweep),
    CSV or Markdown (their columns)."""
    if fmt == "json":
        data: Any = [summary.to_dict() for summary in rows]
        if largest_batch is not None:
            data = {"largest_batch": largest_batch, "rows": data}
        return json.dumps(data, indent=2) + "\n"
    if fmt not in ("csv", "md"):
        raise ValueError(f"serving rows are written as json, csv or md, not {fmt}")
    table = [_serving_row(summary) for summary in rows]
    return columns_text(table, list(table[0]), fmt)


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def plan_table(plan: Any) -> Table:
    """The candidates a plan weighed (``roofscope.llm.plan``), the chosen one marked, and why."""
    title = (
        f"{plan.model} on {plan.device}, {plan.precision}, batch {plan.batch}, prompt {plan.seq_len}, decode at context "
        f"{plan.context}, time per output token <= {seconds(plan.max_tpot)}"
    )
    table = Table(title=title, title_justify="left", caption=plan.reason, caption_justify="left")
    for column in ("layout", "GPUs", "memory/GPU", "fits", "TPOT", "meets", "tokens/s/GPU", "collectives"):
        table.add_column(column, justify="left" if column == "layout" else "right", no_wrap=True)
    for candidate in plan.candidates:
        summary = candidate.summary
        tpot = summary.time_per_output_token
        rate = summary.tokens_per_second_per_gpu
        share = summary.decode.collective_share
        chosen = candidate is plan.chosen
        table.add_row(
            ("> " if chosen else "  ") + candidate.layout.describe(),
            str(candidate.gpus),
            nbytes(summary.memory.total),
            _yes(candidate.fits),
            seconds(tpot) if tpot is not None else "-",
            _yes(candidate.meets_target),
            _rate(rate) if rate is not None else "-",
            f"{100 * share:.1f}%" if share is not None else "-",
            style="bold green" if chosen else None,
        )
    return table


def training_step_table(estimate: Any) -> Table:
    """The terms of a predicted training step (``roofscope.llm.parallel.TrainingStepEstimate``)."""
    layout = estimate.layout
    on = f"{layout.gpus} x {estimate.device}" if estimate.device else f"{layout.gpus} GPUs"
    precision = f", {estimate.precision}" if estimate.precision else ""
    title = (
        f"training step of {estimate.model} on {layout.describe()} = {on}{precision}, "
        f"{estimate.global_batch} sequences of {estimate.seq_len} tokens"
    )
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("term", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("what", overflow="fold")
    chunks = f", {estimate.interleave} model chunks per GPU" if estimate.interleave > 1 else ""
    plural = "es" if estimate.micro_batches > 1 else ""
    schedule = f"{estimate.micro_batches} micro-batch{plural} of {estimate.micro_batch} x {estimate.seq_len} tokens per replica{chunks}"
    forwards = "forward x 2 (recomputed) + backward" if estimate.recompute else "forward + backward"
    if layout.dp == 1:
        gradients = "one replica: nothing to synchronise"
    elif estimate.overlap_dp:
        gradients = f"what outlasts the last backward of a {seconds(estimate.dp_s)} synchronisation"
    else:
        gradients = "synchronised after the schedule"
    rows = [
        ("forward", estimate.forward_s, "one micro-batch on the slowest stage's GPU, its kernels' predicted time"),
        ("backward", estimate.backward_s, "the same micro-batch's backward"),
        ("compute", estimate.compute_s, forwards),
        (
            "TP all-reduces",
            estimate.tp_s if layout.tp > 1 else None,
            "per micro-batch, not overlapped" if layout.tp > 1 else "no tensor parallelism",
        ),
        ("PP send-recvs", estimate.pp_s if layout.pp > 1 else None, "per micro-batch" if layout.pp > 1 else "one stage"),
        ("pipeline", estimate.pipeline_s, f"{schedule}; bubble {100 * estimate.bubble:.1f}%"),
        ("DP gradients", estimate.exposed_dp_s if layout.dp > 1 else None, gradients),
        ("optimizer", estimate.optimizer_s, f"Adam: {nbytes(estimate.optimizer_bytes)} read and written per GPU"),
    ]
    for term, value, what in rows:
        table.add_row(term, "-" if value is None else seconds(value), what)
    table.add_row(
        Text("step", style="bold"),
        Text(seconds(estimate.seconds), style="bold"),
        f"{_rate(estimate.tokens_per_second)} tokens/s; {si(estimate.flops_per_second, 'FLOP/s')} per GPU"
        + (" (the recomputed forwards included)" if estimate.recompute else ""),
    )
    return table
