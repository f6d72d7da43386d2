"""Devices: peak compute per precision, memory bandwidth and capacity, each figure with its source.

The catalog is the data file ``catalog.toml`` beside this module. ``get_device("h100")`` looks a
device up by key, name or alias; ``get_device("my_gpu.toml")`` reads a user file in the same format
(TOML or JSON); ``Device(...)`` or ``Device.custom(...)`` builds one in code. Units inside a
``Device`` are SI base units: bytes, bytes per second, FLOP per second.
"""

from __future__ import annotations

from roofscope.devices.catalog import devices, get_device, resolve_device
from roofscope.devices.device import Device, DeviceError, figure_value
from roofscope.devices.files import device_from_entry, load_devices, to_toml
from roofscope.devices.interconnect import Interconnect
from roofscope.devices.match import catalog_match

__all__ = [
    "Device",
    "DeviceError",
    "Interconnect",
    "catalog_match",
    "device_from_entry",
    "devices",
    "figure_value",
    "get_device",
    "load_devices",
    "resolve_device",
    "to_toml",
]
