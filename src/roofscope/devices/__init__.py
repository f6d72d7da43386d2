"""Devices: peak compute per precision, memory bandwidth and capacity, each figure with its source.

The catalog is the data file ``catalog.toml`` beside this module. ``get_device("h100")`` looks a
device up by key, name or alias; ``get_device("my_gpu.toml")`` reads a user file in the same format
(TOML or JSON); ``Device(...)`` or ``Device.custom(...)`` builds one in code. Units inside a
``Device`` are SI base units: bytes, bytes per second, FLOP per second.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["DTYPES", "Device", "DeviceError", "devices", "get_device", "load_devices"]

#: The precisions a peak may be given for.
DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")

_TERA = 1e12
_GIGA = 1e9
_GIB = 2**30


class DeviceError(ValueError):
    """A device name, file or figure that cannot be used; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class Device:
    """One device's ceilings.

    ``matrix``: dense peak FLOP/s (OP/s for int8) of the matrix units (tensor cores, AMX, MXU) per
    precision; ``vector``: the same for the vector units (CUDA cores, SIMD). A precision missing from
    both is not supported in hardware or not published. ``sources``: a note per figure, keyed
    "memory_bandwidth", "memory_capacity", "matrix.bf16", ... ``launch_overhead_s``: a floor under
    every op's predicted time (0 = none).
    """

    name: str
    memory_bandwidth: float
    memory_capacity: float | None = None
    matrix: Mapping[str, float] = dataclasses.field(default_factory=dict)
    vector: Mapping[str, float] = dataclasses.field(default_factory=dict)
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    launch_overhead_s: float = 0.0
    key: str = ""
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.memory_bandwidth or self.memory_bandwidth <= 0:
            raise DeviceError(f"device {self.name!r}: memory_bandwidth must be a positive number of bytes/s")
        for kind, peaks in (("matrix", self.matrix), ("vector", self.vector)):
            for dtype, value in peaks.items():
                if dtype not in DTYPES:
                    raise DeviceError(f"device {self.name!r}: unknown precision {dtype!r} in {kind} peaks; use one of {', '.join(DTYPES)}")
                if value <= 0:
                    raise DeviceError(f"device {self.name!r}: {kind} {dtype} peak must be positive, got {value}")
        if self.launch_overhead_s < 0:
            raise DeviceError(f"device {self.name!r}: launch_overhead_s must be >= 0")

    @classmethod
    def custom(
        cls,
        name: str = "custom",
        *,
        peak_tflops: float | Mapping[str, float],
        bandwidth_gbs: float,
        capacity_gb: float | None = None,
        vector_tflops: float | Mapping[str, float] | None = None,
        launch_overhead_us: float = 0.0,
    ) -> Device:
        """A device from the two figures a roofline needs, in the units datasheets use.

        ``peak_tflops``: one number (taken as the matrix peak of every precision) or a dict per
        precision; ``vector_tflops`` likewise for non-matrix ops (defaults to the matrix peaks).
        """
        matrix = _per_dtype(peak_tflops)
        vector = _per_dtype(vector_tflops) if vector_tflops is not None else dict(matrix)
        return cls(
            name=name,
            memory_bandwidth=bandwidth_gbs * _GIGA,
            memory_capacity=capacity_gb * _GIGA if capacity_gb is not None else None,
            matrix={k: v * _TERA for k, v in matrix.items()},
            vector={k: v * _TERA for k, v in vector.items()},
            sources={"*": "given by the user"},
            launch_overhead_s=launch_overhead_us / 1e6,
            key=name,
        )

    def with_overrides(
        self,
        *,
        peak_tflops: float | Mapping[str, float] | None = None,
        vector_tflops: float | Mapping[str, float] | None = None,
        bandwidth_gbs: float | None = None,
        launch_overhead_us: float | None = None,
    ) -> Device:
        """This device with some figures replaced (a measured bandwidth, a sustained clock...)."""
        changes: dict[str, Any] = {}
        sources = dict(self.sources)
        if peak_tflops is not None:
            given = _per_dtype(peak_tflops, default=self.matrix)
            changes["matrix"] = {**self.matrix, **{k: v * _TERA for k, v in given.items()}}
            sources.update({f"matrix.{k}": "overridden by the user" for k in given})
        if vector_tflops is not None:
            given = _per_dtype(vector_tflops, default=self.vector)
            changes["vector"] = {**self.vector, **{k: v * _TERA for k, v in given.items()}}
            sources.update({f"vector.{k}": "overridden by the user" for k in given})
        if bandwidth_gbs is not None:
            changes["memory_bandwidth"] = bandwidth_gbs * _GIGA
            sources["memory_bandwidth"] = "overridden by the user"
        if launch_overhead_us is not None:
            changes["launch_overhead_s"] = launch_overhead_us / 1e6
        return dataclasses.replace(self, sources=sources, **changes)

    def peak(self, dtype: str, *, matrix: bool) -> tuple[float, str]:
        """The peak that applies to an op of this precision, and which figure it is ("bf16 matrix").

        Fallbacks, in order, when the device has no figure for the precision asked:
        matrix fp8 -> bf16 -> fp16 matrix (the op runs upcast, W8A16); int8 -> fp16 -> bf16 matrix;
        tf32 -> fp32 matrix; then the vector rate of the precision; then fp32 vector. The last
        resort (a device that publishes no vector rate, such as a TPU) is its lowest published peak.
        """
        chain: list[tuple[str, str]] = []
        if matrix:
            chain += [("matrix", d) for d in _MATRIX_FALLBACK.get(dtype, (dtype,))]
        chain += [("vector", dtype), ("vector", "fp32")]
        for kind, candidate in chain:
            value = (self.matrix if kind == "matrix" else self.vector).get(candidate)
            if value:
                return value, f"{candidate} {kind}"
        everything = [(v, f"{d} {k}") for k, peaks in (("matrix", self.matrix), ("vector", self.vector)) for d, v in peaks.items()]
        if not everything:
            raise DeviceError(f"device {self.name!r} has no peak FLOP/s at all; give one (peak_tflops=...)")
        return min(everything)

    def ridge(self, dtype: str, *, matrix: bool = True) -> float:
        """Arithmetic intensity (FLOP/byte) where the roof turns from memory- to compute-bound."""
        return self.peak(dtype, matrix=matrix)[0] / self.memory_bandwidth

    def source(self, figure: str) -> str:
        """The source note of one figure ("matrix.bf16", "memory_bandwidth", ...)."""
        return self.sources.get(figure) or self.sources.get("*", "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "memory_bandwidth": self.memory_bandwidth,
            "memory_capacity": self.memory_capacity,
            "matrix": dict(self.matrix),
            "vector": dict(self.vector),
            "launch_overhead_s": self.launch_overhead_s,
            "sources": dict(self.sources),
        }


_MATRIX_FALLBACK = {
    "fp8": ("fp8", "bf16", "fp16"),
    "int8": ("int8", "fp16", "bf16"),
    "tf32": ("tf32", "fp32"),
    "bf16": ("bf16",),
    "fp16": ("fp16",),
    "fp32": ("fp32",),
    "fp64": ("fp64",),
}


def _per_dtype(value: float | Mapping[str, float], default: Mapping[str, float] | None = None) -> dict[str, float]:
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    keys = list(default) if default else list(DTYPES)
    return {k: float(value) for k in keys}


def _device_from_entry(key: str, entry: Mapping[str, Any], origin: str) -> Device:
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
        raise DeviceError(f"device file {str(path)!r} is not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {error}") from None
    if "memory_bandwidth_gbs" in data:  # a single device at the top level
        data = {path.stem: data}
    return {key: _device_from_entry(key, entry, str(path)) for key, entry in data.items()}


def _catalog() -> dict[str, Device]:
    text = resources.files(__name__).joinpath("catalog.toml").read_text(encoding="utf-8")
    return {key: _device_from_entry(key, entry, "catalog.toml") for key, entry in tomllib.loads(text).items()}


_CATALOG: dict[str, Device] | None = None


def devices() -> dict[str, Device]:
    """The catalog, by key (a fresh dict each call; the Devices are immutable)."""
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = _catalog()
    return dict(_CATALOG)


def _normalise(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def get_device(device: str | Path | Device) -> Device:
    """A Device from a catalog key, name or alias ("h100", "A100 80GB"), a TOML/JSON file, or a Device."""
    if isinstance(device, Device):
        return device
    text = str(device)
    if isinstance(device, Path) or text.lower().endswith((".toml", ".json")):
        found = load_devices(text)
        if len(found) != 1:
            raise DeviceError(f"device file {text!r} holds {len(found)} devices; pass one with get_device(load_devices(path)[key])")
        return next(iter(found.values()))
    catalog = devices()
    index: dict[str, Device] = {}
    for key, entry in catalog.items():
        for label in (key, entry.name, entry.name.split(" ", 1)[-1], *entry.aliases):  # also without the vendor
            index.setdefault(_normalise(label), entry)
    wanted = _normalise(text)
    if wanted in index:
        return index[wanted]
    labels = sorted({label for key, entry in catalog.items() for label in (key, *entry.aliases)})
    close = difflib.get_close_matches(text.lower(), labels, n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise DeviceError(f"unknown device {text!r}{hint} (roofscope.devices() lists the catalog: {', '.join(catalog)})")
