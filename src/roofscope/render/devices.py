"""The device catalog as a table: each device's memory, bandwidth and peaks, for ``roofscope --devices``."""

from __future__ import annotations

from collections.abc import Mapping

from rich import box
from rich.table import Table

from roofscope.devices import Device

__all__ = ["devices_table"]

#: The peaks shown: (column, kind, precision).
_PEAKS = (
    ("fp32", "vector", "fp32"),
    ("tf32", "matrix", "tf32"),
    ("bf16", "matrix", "bf16"),
    ("fp16", "matrix", "fp16"),
    ("fp8", "matrix", "fp8"),
    ("int8", "matrix", "int8"),
)


def _peak(device: Device, kind: str, precision: str) -> str:
    value = (device.matrix if kind == "matrix" else device.vector).get(precision)
    return f"{value / 1e12:,.4g}" if value else "-"


def devices_table(catalog: Mapping[str, Device]) -> Table:
    """One row per device: its key and aliases (what ``--device`` accepts), name, memory capacity,
    bandwidth, and the dense peaks in TFLOP/s (TOPS for int8); "-" where none is published."""
    table = Table(
        title="device catalog (dense peaks in TFLOP/s, int8 in TOPS; fp32 is the vector rate, the others the matrix rate)",
        title_justify="left",
        box=box.SIMPLE_HEAVY,
        pad_edge=False,
    )
    table.add_column("--device", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("memory", justify="right", no_wrap=True)
    table.add_column("GB/s", justify="right", no_wrap=True)
    for column, _, _ in _PEAKS:
        table.add_column(column, justify="right", no_wrap=True)
    for key, device in catalog.items():
        label = key + (f" ({', '.join(device.aliases)})" if device.aliases else "")
        memory = f"{device.memory_capacity / 1e9:,.0f} GB" if device.memory_capacity else "-"
        table.add_row(
            label,
            device.name,
            memory,
            f"{device.memory_bandwidth / 1e9:,.0f}",
            *(_peak(device, kind, precision) for _, kind, precision in _PEAKS),
        )
    return table
