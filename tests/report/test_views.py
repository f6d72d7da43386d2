"""How a report shows itself: ``str``/``print`` (the terminal table), rich, a notebook's HTML, and
``save`` (the format from the suffix, each file the same text as its renderer gives)."""

from __future__ import annotations

import io
import json

import pytest
import torch
from rich.console import Console
from torch import nn

import roofscope
from roofscope.render.export import to_csv, to_json, to_markdown
from roofscope.render.html import to_html
from roofscope.render.table import render_terminal
from roofscope.report.views import TEXT_WIDTH


class _Unknown(nn.Module):
    """A convolution, then an op without a formula (cholesky_ex): an incomplete total."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).flatten(1)[:, :4]
        return torch.linalg.cholesky_ex(y.mT @ y + torch.eye(4))[0]


@pytest.fixture(scope="module")
def report() -> roofscope.Report:
    return roofscope.analyze("seed-conv", device="h100", dtype="bf16")


def _plain(renderable: object, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False, record=True)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


def test_str_is_the_terminal_report_at_its_text_width(report):
    text = str(report)
    assert text == _plain(render_terminal(report), TEXT_WIDTH)
    lines = text.splitlines()
    assert len(lines) > 20 and max(len(line) for line in lines) <= TEXT_WIDTH
    assert all(line == line.rstrip() for line in lines)  # no padding to the width
    assert "by op" in text and "aten.convolution" in text and "bf16" in lines[0]  # module tree, op table, the target precision
    assert "\x1b[" not in text  # no colour codes in plain text


def test_print_and_rich_print_show_the_same_table(report, capsys):
    print(report)
    assert capsys.readouterr().out == str(report) + "\n"
    console = Console(file=io.StringIO(), width=80, color_system=None, record=True)
    console.print(report)  # __rich__: fitted to the console it is printed on
    narrow = console.export_text()
    assert narrow.splitlines()[0].startswith("seed-conv") and max(len(line) for line in narrow.splitlines()) <= 80


def test_repr_stays_a_one_line_summary(report):
    assert "\n" not in repr(report) and repr(report).startswith("<roofscope.Report seed-conv:")


def test_incomplete_totals_are_marked_in_str():
    text = str(roofscope.analyze(_Unknown(), (1, 3, 6, 6)))
    assert "cholesky_ex" in text and "uncounted" in text.lower()


def test_notebook_html_has_the_op_table_and_the_chart(report):
    fragment = report._repr_html_()
    assert fragment == report.to_html(full=False) == to_html(report, full=False)
    assert fragment.startswith('<div class="roofscope">') and "<html" not in fragment
    assert "<h2>Ops</h2>" in fragment and "aten.convolution" in fragment  # the op table
    assert "<svg" in fragment and fragment.count("<circle") == fragment.count("data-tip=") > 0  # the chart, a tooltip per point
    assert "<details" in fragment  # the module tree


def test_without_a_device_there_is_no_chart_but_still_the_op_table():
    fragment = roofscope.analyze("seed-conv")._repr_html_()
    assert "<h2>Ops</h2>" in fragment and "<svg" not in fragment


def test_to_html_is_a_whole_page_by_default(report):
    page = report.to_html()
    assert page == to_html(report) and page.startswith("<!DOCTYPE html>") and "<title>roofscope: seed-conv</title>" in page


@pytest.mark.parametrize(
    ("suffix", "render"),
    [
        (".json", to_json),
        (".csv", to_csv),
        (".md", to_markdown),
        (".markdown", to_markdown),
        (".html", to_html),
        (".HTM", to_html),
    ],
)
def test_save_picks_the_format_from_the_suffix(report, tmp_path, suffix, render):
    path = tmp_path / f"report{suffix}"
    assert report.save(path) == path
    assert path.read_text(encoding="utf-8") == render(report)


def test_saved_json_loads_and_markdown_honours_depth(report, tmp_path):
    data = json.loads(report.save(str(tmp_path / "r.json")).read_text())
    assert data["total"]["macs"] == report.total.macs == 3_976_448
    shallow = report.save(tmp_path / "r.md", depth=0).read_text()
    assert shallow == to_markdown(report, depth=0) and shallow != to_markdown(report)


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_save_draws_the_chart_for_image_suffixes(report, tmp_path, suffix):
    pytest.importorskip("matplotlib")
    path = report.save(tmp_path / f"chart{suffix}")
    head = path.read_bytes()[:64]
    assert (b"<svg" in path.read_bytes()[:2000]) if suffix == ".svg" else head.startswith(b"\x89PNG")


def test_save_rejects_an_unknown_suffix_and_writes_nothing(report, tmp_path):
    with pytest.raises(ValueError, match=r"report\.txt.*\.json, \.csv, \.md, \.html, \.png, \.svg or \.pdf"):
        report.save(tmp_path / "report.txt")
    assert not (tmp_path / "report.txt").exists()


def test_a_notebook_run_headless_shows_the_op_table_and_the_chart():
    """A user's notebook, executed by a real kernel (nbclient): the cell's rich output is the report's
    HTML, with the op table and the roofline chart; ``print(report)`` in a cell is the terminal table."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell('import roofscope\nreport = roofscope.analyze("seed-conv", device="h100", dtype="bf16")\nreport'),
        nbformat.v4.new_code_cell("print(report)"),
    ]
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    shown, printed = (cell.outputs for cell in notebook.cells)
    html = next(output["data"]["text/html"] for output in shown if output.get("output_type") == "execute_result")
    assert html.startswith('<div class="roofscope">')
    assert "<h2>Ops</h2>" in html and "aten.convolution" in html and "<svg" in html and "data-tip=" in html
    text = "".join(output.get("text", "") for output in printed)
    assert "by op" in text and "seed-conv" in text.splitlines()[0]
