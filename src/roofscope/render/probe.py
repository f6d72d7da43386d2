"""The ceilings ``roofscope probe`` measured, beside the catalog's figures."""

from __future__ import annotations

from rich.table import Table

from roofscope.devices import figure_value
from roofscope.measurement.probe import Probe
from roofscope.render.units import seconds, si

__all__ = ["probe_table"]


def _format(unit: str, value: float | None) -> str:
    if value is None:
        return "-"
    if unit == "B/s":
        return f"{value / 1e9:,.1f} GB/s"
    if unit == "s":
        return seconds(value)
    return f"{si(value)}FLOP/s"


def probe_table(result: Probe) -> Table:
    table = Table(title=f"{result.name} ({result.device}), median of {result.repeats}", title_justify="left")
    table.add_column("ceiling", no_wrap=True)
    table.add_column("probed", justify="right", no_wrap=True)
    table.add_column("min-max", justify="right", no_wrap=True)
    catalog = result.catalog
    table.add_column(f"catalog: {catalog.key}" if catalog else "catalog", justify="right", no_wrap=True)
    table.add_column("probed / catalog", justify="right")
    table.add_column("how", style="dim")
    for item in result.figures:
        listed = figure_value(catalog, item.figure)
        spread = item.spread
        ratio = f"{item.value / listed:.2f}" if item.value and listed else "-"
        table.add_row(
            item.figure,
            _format(item.unit, item.value),
            f"{_format(item.unit, spread[0])} - {_format(item.unit, spread[1])}" if spread else "-",
            _format(item.unit, listed),
            ratio,
            item.error or item.how,
            style="yellow" if item.error else None,
        )
    return table
