"""The serving summary of a transformer (``roofscope.llm.ServingSummary``), for the terminal and
Markdown. It formats what the summary holds; it computes nothing."""

from __future__ import annotations

from typing import Any

from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from roofscope.render.units import nbytes, seconds, si

__all__ = ["llm_html", "llm_items", "llm_markdown", "render_llm_summary"]


def _params(summary: Any, exact: bool) -> str:
    text = si(summary.params, exact=exact)
    if summary.moe:
        text = f"{si(summary.active_params, exact=exact)} active per token of {text} (mixture of experts)"
    return text


def _memory(summary: Any, exact: bool) -> tuple[str, str | None, str]:
    """(the sum, the capacity verdict or None, its style)."""
    memory = summary.memory
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


def render_llm_summary(summary: Any, *, exact: bool = False) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("params", _params(summary, exact))
    grid.add_row("KV cache", f"{nbytes(summary.kv_cache_bytes, exact=exact)} at {summary.context} tokens x batch {summary.batch}")
    text, verdict, style = _memory(summary, exact)
    line = Text(text)
    if verdict:
        line.append("  ")
        line.append(verdict, style=style)
    grid.add_row("memory", line)
    grid.add_row("prefill", _step(summary.prefill, exact))
    grid.add_row("per output token", _step(summary.decode, exact))
    if summary.tokens_per_second is not None:
        grid.add_row("tokens/s", f"{_rate(summary.tokens_per_second)}  (batch / time per output token)")
    return Panel(grid, title=f"LLM serving: {_heading(summary)}", title_align="left", border_style="cyan", expand=False)


def llm_items(summary: Any, *, exact: bool = False) -> list[tuple[str, str]]:
    """(label, text) per line of the summary, for Markdown and HTML."""
    text, verdict, _ = _memory(summary, exact)
    items = [
        ("params", _params(summary, exact)),
        ("KV cache", f"{nbytes(summary.kv_cache_bytes, exact=exact)} at {summary.context} tokens x batch {summary.batch}"),
        ("memory", text + (f"; {verdict}" if verdict else "")),
        ("prefill", _step(summary.prefill, exact)),
        ("per output token", _step(summary.decode, exact)),
    ]
    if summary.tokens_per_second is not None:
        items.append(("tokens/s", f"{_rate(summary.tokens_per_second)} (batch / time per output token)"))
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
