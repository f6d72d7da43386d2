"""The terminal report at common console widths: every figure shown whole, never cut short."""

from __future__ import annotations

import pytest
import torchvision
from rich.console import Console

import roofscope
from roofscope.render.table import render_terminal
from roofscope.render.units import nbytes, si


@pytest.fixture(scope="module")
def report():
    return roofscope.analyze(torchvision.models.resnet18(), (1, 3, 224, 224), device="h100")


@pytest.mark.parametrize(("width", "exact"), [(80, False), (120, True), (160, True)])
def test_terminal_report_shows_every_figure_whole(report, width, exact):
    console = Console(width=width, record=True)
    console.print(render_terminal(report, depth=1, exact=exact, ops=5))
    lines = console.export_text().splitlines()
    modules = [report.root, *report.root.children]
    for module in modules:
        row = next(
            line
            for line in lines
            if f" {si(module.total.macs, exact=exact)} " in line and f" {si(module.total.flops, exact=exact)} " in line
        )
        assert f" {si(module.params.total, exact=exact)} " in row
        assert f" {nbytes(module.total.bytes, exact=exact)} " in row
        assert "…" not in row.split(maxsplit=1)[1]  # a name may be shortened, a figure never
    assert all(len(line) <= width for line in lines)
