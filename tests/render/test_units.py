"""Human-readable numbers: three significant digits under the prefix the rounded value calls for."""

from __future__ import annotations

import pytest

from roofscope.render.units import nbytes, seconds, si


@pytest.mark.parametrize(
    ("value", "expected"),
    [(999_500_000, "1G"), (999_400_000, "999M"), (1_000_000_000, "1G"), (999.7, "1K"), (999, "999"), (-999_600, "-1M")],
)
def test_si_rounds_before_it_picks_the_prefix(value: float, expected: str) -> None:
    assert si(value) == expected  # gemma-3-1b's 999.9 M parameters once read "1e+03M"


def test_bytes_and_seconds_round_before_they_pick_the_unit() -> None:
    assert nbytes(999_999_999) == "1GB" and nbytes(999_000_000) == "999MB" and nbytes(999) == "999B"
    assert seconds(0.9996) == "1s" and seconds(0.0009996) == "1ms" and seconds(9.996e-7) == "1us"
    assert seconds(0.5) == "500ms" and seconds(2e-9) == "2ns"
