"""What users read, byte for byte: the terminal report and the Markdown, CSV and JSON files of a
few models, against tests/goldens/. A change to any of them is made on purpose: run
``pytest tests/render/test_goldens.py --update-goldens`` and review the diff."""

from __future__ import annotations

import pytest

from roofscope.cli import main

CASES = {
    "seed-conv": ["seed-conv"],
    "resnet18-h100-bf16": ["resnet18", "--device", "h100", "--dtype", "bf16", "--depth", "1"],
    "gpt2-a100-fp16": ["gpt2", "--seq", "64", "--device", "a100-80gb", "--dtype", "fp16", "--depth", "1"],
}
FORMATS = {"txt": [], "md": ["--format", "md"], "csv": ["--format", "csv"], "json": ["--format", "json"]}


#: The terminal report at these widths (``$COLUMNS``): narrow ones drop secondary columns, never cut a figure.
WIDTHS = (80, 120, 160)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CASES)
def test_output_matches_its_golden(case: str, fmt: str, capsys: pytest.CaptureFixture[str], golden, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    assert main([*CASES[case], *FORMATS[fmt]]) == 0
    golden(f"{case}.{fmt}", capsys.readouterr().out)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", CASES)
def test_terminal_at_each_width(case: str, width: int, capsys: pytest.CaptureFixture[str], golden, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(CASES[case]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= width
    golden(f"{case}-{width}.txt", out)
