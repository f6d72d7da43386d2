"""Device files: the catalog's format (TOML, or JSON) read into a ``Device``, and written back.

A file holds a table per device (or one device at the top level): ``name``, ``memory_bandwidth_gbs``
(decimal GB/s), ``memory_capacity_gb`` or ``_gib``, ``[matrix]`` and ``[vector]`` peaks in TFLOP/s,
``launch_overhead_us``, ``source`` and a ``[notes]`` table of per-figure sources; an
``[interconnect]`` table (``roofscope.devices.interconnect``) for several GPUs together.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from roofscope.devices.device import Device, DeviceError
from roofscope.devices.execution import Execution
from roofscope.devices.interconnect import interconnect_from_entry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["catalog_tables", "device_from_entry", "load_devices", "parse_toml", "to_toml"]

_TERA = 1e12
_GIGA = 1e9
_GIB = 2**30


def parse_toml(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


#: Execution figures a device entry may give: its key in the file, the Execution field, the factor
#: from the file's unit to SI, and the figure's name in ``Device.sources`` and the notes.
_EXECUTION_FIGURES = {
    "compute_units": ("compute_units", 1, "compute_units"),
    "cache_mb": ("cache_bytes", 1e6, "cache"),
    "cache_bandwidth_gbs": ("cache_bandwidth", _GIGA, "cache_bandwidth"),
    "kernel_floor_us": ("kernel_floor_s", 1e-6, "kernel_floor"),
    "view_overhead_us": ("view_overhead_s", 1e-6, "view_overhead"),
    "module_overhead_us": ("module_overhead_s", 1e-6, "module_overhead"),
    "graph_kernel_us": ("graph_kernel_s", 1e-6, "graph_kernel"),
    "graph_launch_us": ("graph_launch_s", 1e-6, "graph_launch"),
    "first_touch_gbs": ("first_touch_bandwidth", _GIGA, "first_touch"),
}


def _execution(entry: Mapping[str, Any], defaults: Mapping[str, Any], datasheet: dict[str, Any], notes: dict[str, str]) -> Execution:
    """The entry's execution figures, each missing one taken from its class's ``defaults``: a
    figure there, or a ``*_efficiency`` fraction of the entry's datasheet figure. ``notes`` gains
    the source of every figure that came from the defaults."""
    values: dict[str, Any] = {"kind": str(entry.get("kind", defaults.get("kind", "gpu")))}
    for name, (field, scale, figure) in _EXECUTION_FIGURES.items():
        if name in entry:
            values[field] = int(entry[name]) if field == "compute_units" else float(entry[name]) * scale
        elif name in defaults:
            values[field] = int(defaults[name]) if field == "compute_units" else float(defaults[name]) * scale
            notes.setdefault(figure, _default_note(defaults, name))
    if "cache_name" in entry or "cache_name" in defaults:
        values["cache_name"] = str(entry.get("cache_name", defaults.get("cache_name")))
    sustained = entry.get("sustained", {})
    matrix = {str(k): float(v) * _TERA for k, v in sustained.get("matrix", {}).items()}
    vector = {str(k): float(v) * _TERA for k, v in sustained.get("vector", {}).items()}
    bandwidth = float(sustained["memory_bandwidth_gbs"]) * _GIGA if "memory_bandwidth_gbs" in sustained else None
    for kind, measured in (("matrix", matrix), ("vector", vector)):
        fraction = defaults.get(f"{kind}_efficiency")
        for dtype, peak in datasheet[kind].items():
            if dtype not in measured and fraction is not None:
                measured[dtype] = peak * float(fraction)
                notes.setdefault(f"sustained.{kind}.{dtype}", _default_note(defaults, f"{kind}_efficiency"))
    if bandwidth is None and "memory_efficiency" in defaults:
        bandwidth = datasheet["memory_bandwidth"] * float(defaults["memory_efficiency"])
        notes.setdefault("sustained.memory_bandwidth", _default_note(defaults, "memory_efficiency"))
    curves = entry.get("curves", {})
    return Execution.from_dict(
        {
            **values,
            "sustained_matrix": matrix,
            "sustained_vector": vector,
            "sustained_bandwidth": bandwidth,
            "gemm_curve": [(m, n, k, p, float(tflops) * _TERA) for m, n, k, p, tflops in curves.get("gemm", ())],
            "conv_curve": [(*point[:-1], float(point[-1]) * _TERA) for point in curves.get("conv", ())],
            "rnn_curve": [(b, i, h, t, p, float(us) * 1e-6) for b, i, h, t, p, us in curves.get("rnn", ())],
            "bandwidth_curve": [(float(size), float(gbs) * _GIGA) for size, gbs in curves.get("bandwidth", ())],
            "family_curves": {
                family: [(float(size), float(gbs) * _GIGA) for size, gbs in curve] for family, curve in curves.get("family", {}).items()
            },
        }
    )


def _default_note(defaults: Mapping[str, Any], name: str) -> str:
    note = defaults.get("notes", {}).get(name, "")
    return f"{defaults.get('kind', 'class')} default: {note}" if note else f"{defaults.get('kind', 'class')} default"


def device_from_entry(key: str, entry: Mapping[str, Any], origin: str, defaults: Mapping[str, Mapping[str, Any]] | None = None) -> Device:
    """The device a file's table describes; ``defaults``: the figures of each device class
    (``kind``) that an entry may leave out (the catalog's ``[defaults.gpu]``...)."""
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
    kind = str(entry.get("kind", "gpu"))
    class_defaults = dict((defaults or {}).get(kind, {}), kind=kind)
    datasheet = {"matrix": matrix, "vector": vector, "memory_bandwidth": bandwidth}
    execution = _execution(entry, class_defaults, datasheet, notes)
    # a list, not a set: the sources keep the catalog's order in every process
    execution_figures = [figure for name, (_, _, figure) in _EXECUTION_FIGURES.items() if name in entry]
    execution_figures += [f"sustained.{kind_}.{d}" for kind_ in ("matrix", "vector") for d in entry.get("sustained", {}).get(kind_, {})]
    if "memory_bandwidth_gbs" in entry.get("sustained", {}):
        execution_figures.append("sustained.memory_bandwidth")
    for figure in execution_figures:
        sources[figure] = f"{notes[figure]}; {source}" if figure in notes else source
    for figure, note in notes.items():
        sources.setdefault(figure, note)
    if "launch_overhead_us" in entry:
        sources["launch_overhead"] = f"{notes['launch_overhead']}; {source}" if "launch_overhead" in notes else source
    launch = entry.get("launch_overhead_us", class_defaults.get("launch_overhead_us", 0.0))
    if "launch_overhead_us" not in entry and "launch_overhead_us" in class_defaults:
        sources["launch_overhead"] = _default_note(class_defaults, "launch_overhead_us")
    try:
        interconnect = interconnect_from_entry(entry["interconnect"], key) if "interconnect" in entry else None
    except (ValueError, TypeError) as error:
        raise DeviceError(f"{origin}: {error}") from None
    return Device(
        name=str(entry.get("name", key)),
        memory_bandwidth=bandwidth,
        memory_capacity=capacity,
        matrix=matrix,
        vector=vector,
        sources=sources,
        launch_overhead_s=float(launch) / 1e6,
        key=key,
        aliases=tuple(str(a) for a in entry.get("aliases", ())),
        execution=execution,
        interconnect=interconnect,
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
    defaults = catalog_tables()[1]
    return {key: device_from_entry(key, entry, str(path), defaults) for key, entry in data.items() if key != "defaults"}


@functools.cache
def catalog_tables() -> tuple[dict[str, Any], dict[str, Any]]:
    """The packaged catalog: (its device tables by key, its ``[defaults]`` per device class)."""
    text = resources.files("roofscope.devices").joinpath("catalog.toml").read_text(encoding="utf-8")
    tables = parse_toml(text)
    defaults = tables.pop("defaults", {})
    return tables, defaults


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    return repr(float(value)) if isinstance(value, float) else str(value)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def to_toml(entry: dict[str, Any], header: str) -> str:
    """A device entry (``Probe.entry()``) as a TOML device file with a comment line on top: plain
    figures first, then a [table] for each dict-valued figure (notes, sustained, curves)."""
    lines = [f"# {header}"]
    tables = {key: value for key, value in entry.items() if isinstance(value, dict) and key not in ("matrix", "vector")}
    for key, value in entry.items():
        if key not in tables:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in tables.items():
        lines += ["", f"[{key}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"
