"""Device files: the catalog's format (TOML, or JSON) read into a ``Device``, and written back.

A file holds a table per device (or one device at the top level): ``name``, ``memory_bandwidth_gbs``
(decimal GB/s), ``memory_capacity_gb`` or ``_gib``, ``[matrix]`` and ``[vector]`` peaks in TFLOP/s,
``launch_overhead_us``, ``source`` and a ``[notes]`` table of per-figure sources.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from roofscope.devices.device import Device, DeviceError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["device_from_entry", "load_devices", "parse_toml", "to_toml"]

_TERA = 1e12
_GIGA = 1e9
_GIB = 2**30


def parse_toml(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


def device_from_entry(key: str, entry: Mapping[str, Any], origin: str) -> Device:
    try:
        bandwidth = float(entry["memory_bandwidth_gbs"]) * _GIGA
    except KeyError:
        raise DeviceError(f"{origin}: device {key!r} needs memory_bandwidth_gbs (decimal GB/s)") from None
    if "memory_capacity_gib" in entry:
        capacity: float | None = float(entry["memory_capacity_gib"]) * _GIB
    elif "memory_capacity_gb" in entry:
        capacity = float(entry["memory_capacity_gb"]) * _GIGA
    else:
        capacity = None
    source = str(entry.get("source", f"from {origin}"))
    notes = {str(k): str(v) for k, v in entry.get("notes", {}).items()}
    matrix = {str(k): float(v) * _TERA for k, v in entry.get("matrix", {}).items()}
    vector = {str(k): float(v) * _TERA for k, v in entry.get("vector", {}).items()}
    figures = ["memory_bandwidth", *(["memory_capacity"] if capacity else [])]
    figures += [f"matrix.{d}" for d in matrix] + [f"vector.{d}" for d in vector]
    sources = {figure: (f"{notes[figure]}; {source}" if figure in notes else source) for figure in figures}
    return Device(
        name=str(entry.get("name", key)),
        memory_bandwidth=bandwidth,
        memory_capacity=capacity,
        matrix=matrix,
        vector=vector,
        sources=sources,
        launch_overhead_s=float(entry.get("launch_overhead_us", 0.0)) / 1e6,
        key=key,
        aliases=tuple(str(a) for a in entry.get("aliases", ())),
    )


def load_devices(path: str | Path) -> dict[str, Device]:
    """Every device in a TOML or JSON file in the catalog's format (a table per device)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DeviceError(f"cannot read device file {str(path)!r}: {error.strerror}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise DeviceError(
            f"device file {str(path)!r} is not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {error}"
        ) from None
    if "memory_bandwidth_gbs" in data:  # a single device at the top level
        data = {path.stem: data}
    return {key: device_from_entry(key, entry, str(path)) for key, entry in data.items()}


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    return repr(float(value)) if isinstance(value, float) else str(value)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def to_toml(entry: dict[str, Any], header: str) -> str:
    """A device entry (``Probe.entry()``) as a TOML device file with a comment line on top."""
    lines = [f"# {header}"]
    tables = {key: value for key, value in entry.items() if key == "notes"}
    for key, value in entry.items():
        if key not in tables:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in tables.items():
        lines += ["", f"[{key}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"
