"""The HTML report in a real browser (headless Chromium driven by playwright): sorting, expand and
collapse all, search, the chart's tooltips, and the layout at 800 and 1400 px.

Uses the system's Chromium (``.ci/run`` installs it); playwright downloads no browser here.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import roofscope
from roofscope.render.html import to_html

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium): the browser test needs it")


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "resnet18.html"
    path.write_text(to_html(roofscope.analyze("resnet18", device="h100", dtype="bf16")), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser() -> Any:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def _open(browser: Any, page_file: Path, width: int) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_file.as_uri())
    page.wait_for_selector('table#ops[data-sortable="ready"]')
    page.wait_for_selector('.tree[data-sortable="ready"]')
    page.errors = errors
    return page


def _column(page: Any, table: str, index: int) -> list[float]:
    return page.eval_on_selector_all(f"table#{table} tbody tr", f"rows => rows.map(r => Number(r.cells[{index}].getAttribute('data-v')))")


def test_tables_sort_largest_first_then_smallest(browser, page_file):
    page = _open(browser, page_file, 1400)
    flops = _column(page, "ops", 4)
    assert flops == sorted(flops, reverse=True) and len(flops) > 3  # opens sorted by FLOPs, largest first
    bytes_head = page.locator("table#ops th", has_text="bytes")
    bytes_head.click()  # a figure: the first click sorts largest first
    assert bytes_head.get_attribute("aria-sort") == "descending"
    moved = _column(page, "ops", 5)
    assert moved == sorted(moved, reverse=True)
    bytes_head.click()
    assert bytes_head.get_attribute("aria-sort") == "ascending" and _column(page, "ops", 5) == sorted(moved)
    op_head = page.locator("table#ops th", has_text="op").first
    op_head.click()  # text: A to Z first
    names = page.eval_on_selector_all("table#ops tbody tr", "rows => rows.map(r => r.cells[0].getAttribute('data-v'))")
    assert names == sorted(names, key=str.lower) or names == sorted(names)
    assert page.errors == []


def test_the_module_tree_sorts_each_modules_children(browser, page_file):
    page = _open(browser, page_file, 1400)
    page.click("button.expand")
    # the tree's head: module, params, MACs, FLOPs, ...; sort by params, the column every module has
    page.locator(".tree .head span", has_text="params").click()
    order = page.eval_on_selector_all(
        '.tree .node[data-name="resnet18"] > .kids > .node',
        "nodes => nodes.map(n => Number((n.tagName === 'DETAILS' ? n.firstElementChild : n).children[1].getAttribute('data-v')))",
    )
    assert len(order) >= 8 and order == sorted(order, reverse=True)  # conv1, bn1, ..., layer1-4, avgpool, fc
    indent = {  # where each name's text starts: the cell's left edge plus its padding
        name: page.eval_on_selector(
            f'.tree .node[data-name="{name}"] > .row > .name, .tree .node[data-name="{name}"] > .name',
            "el => el.getBoundingClientRect().left + parseFloat(getComputedStyle(el).paddingLeft)",
        )
        for name in ("resnet18", "layer1", "layer1.0", "layer1.0.conv1")
    }
    assert indent["resnet18"] < indent["layer1"] < indent["layer1.0"] < indent["layer1.0.conv1"]  # each level further in
    assert page.locator(".tree .head span", has_text="params").get_attribute("aria-sort") == "descending"


def test_expand_all_collapse_all_and_search(browser, page_file):
    page = _open(browser, page_file, 1400)
    count = page.locator(".tree details").count()
    page.click("button.expand")
    assert count > 10 and page.locator(".tree details[open]").count() == count
    page.click("button.collapse")
    assert page.locator(".tree details[open]").count() == 0
    page.fill("input.search", "downsample")
    shown = page.eval_on_selector_all(".tree .node:not(.hidden)", "nodes => nodes.map(n => n.getAttribute('data-name'))")
    matches = page.eval_on_selector_all(".tree .node.match", "nodes => nodes.map(n => n.getAttribute('data-name'))")
    # resnet18 has a downsample (a conv and a batch norm) in layer2, layer3 and layer4; a name matches
    # on its full path, so the conv and the norm inside match too; their parents and the model stay
    assert sorted(matches) == [f"layer{n}.0.downsample{part}" for n in (2, 3, 4) for part in ("", ".0", ".1")]
    assert {"resnet18", "layer2", "layer2.0", "layer2.0.downsample"} <= set(shown) and "fc" not in shown and "layer1" not in shown
    assert page.locator('.tree details[data-name="layer2.0"]').get_attribute("open") is not None  # opened to show the match
    page.fill("input.search", "convolution")
    visible_ops = page.eval_on_selector_all("table#ops tbody tr:not(.hidden)", "rows => rows.map(r => r.cells[0].getAttribute('data-v'))")
    assert visible_ops == ["aten.convolution"]
    page.fill("input.search", "")
    assert page.locator(".tree .node.hidden").count() == 0 and page.locator("table#ops tbody tr.hidden").count() == 0


def test_a_chart_point_shows_its_op_module_and_figures(browser, page_file):
    page = _open(browser, page_file, 1400)
    tip = page.locator(".chart .tip")
    assert not tip.is_visible()
    point = page.locator("circle[data-tip]").last  # drawn last: on top of any point it overlaps
    point.hover()
    assert tip.is_visible()
    text = tip.text_content()
    assert text == point.get_attribute("data-tip")
    assert " @ " in text and "FLOPs" in text and "bytes" in text and "time" in text  # op @ module, FLOPs, bytes, time
    page.mouse.move(1, 1)
    assert not tip.is_visible()


@pytest.mark.parametrize("width", [800, 1400])
def test_usable_at_800_and_1400_px(browser, page_file, tmp_path, width):
    """No sideways scrolling of the page itself (wide tables scroll inside their own box); the
    screenshots are kept in the test's directory for a person to look at."""
    page = _open(browser, page_file, width)
    page.click("button.expand")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.locator("h1").bounding_box()["width"] <= width
    shot = tmp_path / f"resnet18-{width}px.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 20_000 and page.errors == []
