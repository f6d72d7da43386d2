"""Human-readable numbers: SI prefixes (powers of 1000) for counts, and decimal bytes."""

from __future__ import annotations

__all__ = ["nbytes", "percent", "seconds", "si"]

_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def _three_digits(value: float) -> float:
    """The value rounded to three significant digits, before a prefix is chosen: 999.96e6 is 1G,
    not 1e+03M."""
    return float(f"{value:.3g}")


def si(value: float, unit: str = "", *, exact: bool = False) -> str:
    if exact:
        return f"{int(value):,}{' ' + unit if unit else ''}"
    for scale, prefix in _PREFIXES:
        if abs(_three_digits(value)) >= scale:
            return f"{value / scale:.3g}{prefix}{unit}"
    return f"{value:.3g}{unit}" if isinstance(value, float) and not value.is_integer() else f"{int(value)}{unit}"


def nbytes(value: int, *, exact: bool = False) -> str:
    """Decimal units: 1 MB = 10^6 bytes, like the bandwidth figures of device datasheets."""
    if exact:
        return f"{value:,} B"
    for scale, prefix in _PREFIXES:
        if _three_digits(value) >= scale:
            return f"{value / scale:.3g}{prefix}B"
    return f"{value}B"


def seconds(value: float) -> str:
    """A duration in s, ms, us or ns, three significant digits."""
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if _three_digits(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value / 1e-9:.3g}ns"


def percent(value: float | None) -> str:
    """A ratio as a percentage: whole percents from 10%, then 2 significant digits, "<0.01%" below."""
    if value is None:
        return "-"
    if value >= 0.1:
        return f"{100 * value:.0f}%"
    return f"{100 * value:.2g}%" if value >= 1e-4 else "<0.01%"
