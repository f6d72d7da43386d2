"""The catalog: ``catalog.toml`` beside this module, looked up by key, name or alias."""

from __future__ import annotations

import difflib
from pathlib import Path

from roofscope.devices.device import Device, DeviceError
from roofscope.devices.files import catalog_tables, device_from_entry, load_devices

__all__ = ["devices", "get_device", "resolve_device"]


def _catalog() -> dict[str, Device]:
    tables, defaults = catalog_tables()
    return {key: device_from_entry(key, entry, "catalog.toml", defaults) for key, entry in tables.items()}


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


def resolve_device(
    device: str | Path | Device | None,
    peak_tflops: float | dict[str, float] | None = None,
    bandwidth_gbs: float | None = None,
    launch_overhead_us: float | None = None,
) -> Device | None:
    """The device an analysis' options name: ``device`` (a catalog name, a file, a Device) with
    the figures given replacing its own, or, without one, a custom device made of them (None when
    neither is given)."""
    if device is None:
        if peak_tflops is None and bandwidth_gbs is None:
            if launch_overhead_us is not None:
                raise DeviceError("launch_overhead_us needs a device (device=... or peak_tflops= and bandwidth_gbs=)")
            return None
        if peak_tflops is None or bandwidth_gbs is None:
            raise DeviceError("a custom device needs both peak_tflops and bandwidth_gbs (or name a device)")
        return Device.custom(peak_tflops=peak_tflops, bandwidth_gbs=bandwidth_gbs, launch_overhead_us=launch_overhead_us or 0.0)
    resolved = get_device(device)
    if any(value is not None for value in (peak_tflops, bandwidth_gbs, launch_overhead_us)):
        resolved = resolved.with_overrides(peak_tflops=peak_tflops, bandwidth_gbs=bandwidth_gbs, launch_overhead_us=launch_overhead_us)
    return resolved
