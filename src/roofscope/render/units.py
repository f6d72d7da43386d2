"""Human-readable numbers: SI prefixes (powers of 1000) for counts, and decimal bytes.

A value is rounded to three significant digits *before* its prefix is final: 999.7K rounds to
1000K, so it is written 1M (not "1e+03K"); the same for seconds (999.9us is 1ms).
"""

from __future__ import annotations

__all__ = ["nbytes", "percent", "seconds", "si"]

_PREFIXES = ((1.0, ""), (1e3, "K"), (1e6, "M"), (1e9, "G"), (1e12, "T"), (1e15, "P"))


def _scaled(value: float, steps: tuple[tuple[float, str], ...]) -> str:
    """``value`` in the largest unit of ``steps`` (smallest first) it reaches, three significant
    digits; a value that rounds up to 1000 of a unit moves to the next one."""
    magnitude = abs(value)
    index = 0
    while index + 1 < len(steps) and magnitude >= steps[index + 1][0]:
        index += 1
    scale, unit = steps[index]
    if index + 1 < len(steps) and abs(float(f"{value / scale:.3g}")) >= 1000:
        scale, unit = steps[index + 1]
    scaled = value / scale
    # past the largest unit, whole numbers rather than an exponent ("2500P", not "2.5e+03P")
    text = f"{scaled:.3g}" if abs(scaled) < 1000 else f"{scaled:.0f}"
    return text + unit


def si(value: float, unit: str = "", *, exact: bool = False) -> str:
    if exact:
        return f"{int(value):,}{' ' + unit if unit else ''}"
    if abs(value) < 1000 and (not isinstance(value, float) or value.is_integer()):
        return f"{int(value)}{unit}"
    return _scaled(value, _PREFIXES) + unit


def nbytes(value: int, *, exact: bool = False) -> str:
    """Decimal units: 1 MB = 10^6 bytes, like the bandwidth figures of device datasheets."""
    if exact:
        return f"{value:,} B"
    if value < 1000:
        return f"{value}B"
    return _scaled(value, _PREFIXES) + "B"


_TIME_UNITS = ((1e-9, "ns"), (1e-6, "us"), (1e-3, "ms"), (1.0, "s"))


def seconds(value: float) -> str:
    """A duration in s, ms, us or ns, three significant digits."""
    return _scaled(value, _TIME_UNITS)


def percent(value: float | None) -> str:
    """A ratio as a percentage: whole percents from 10%, then 2 significant digits, "<0.01%" below."""
    if value is None:
        return "-"
    if value >= 0.1:
        return f"{100 * value:.0f}%"
    return f"{100 * value:.2g}%" if value >= 1e-4 else "<0.01%"
