"""``Interconnect``: how a device's GPUs talk to each other, inside a node (NVLink, PCIe) and
between nodes (InfiniBand), each figure with its source.

Bandwidths are per GPU and per direction, in bytes/s: what one GPU can send while it receives as
much (NVLink 4's "900 GB/s" is both directions together, 450 GB/s each way). In a node without a
switch, whose GPUs are fully connected by point-to-point links (AMD Infinity Fabric), the link
bandwidth is the sum over a GPU's ``point_to_point_links`` links, one to each other GPU, and a
collective among g of the node's GPUs runs on the g - 1 links between them. ``latency_s`` is the
time one step of a collective takes before any byte counts (docs/conventions.md, "Parallelism").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["Interconnect", "interconnect_from_entry"]

_GIGA = 1e9


@dataclasses.dataclass(frozen=True)
class Interconnect:
    """The links of one GPU: ``link`` inside a node of ``gpus_per_node`` GPUs, ``network`` between
    nodes (None: not published for this device). SI units: bytes/s per direction, seconds."""

    link: str
    link_bandwidth: float
    link_latency_s: float
    gpus_per_node: int
    network: str | None = None
    network_bandwidth: float | None = None
    network_latency_s: float | None = None
    point_to_point_links: int = 0  # links per GPU in a fully connected node; 0: a switch (NVSwitch) or a bus
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.link_bandwidth <= 0 or self.gpus_per_node < 1 or self.link_latency_s < 0:
            raise ValueError(f"interconnect {self.link!r}: bandwidth and GPUs per node must be positive, latency >= 0")
        if self.network_bandwidth is not None and self.network_bandwidth <= 0:
            raise ValueError(f"interconnect {self.link!r}: network bandwidth must be positive")
        if self.point_to_point_links < 0:
            raise ValueError(f"interconnect {self.link!r}: point-to-point links must be >= 0")

    def group_bandwidth(self, group: int) -> float:
        """Per-direction bandwidth of one GPU in a collective among ``group`` GPUs of a node: the
        whole link bandwidth through a switch; with point-to-point links, the share of the g - 1
        links that reach the group's other GPUs."""
        links = self.point_to_point_links
        if not links:
            return self.link_bandwidth
        return self.link_bandwidth * min(max(group - 1, 1), links) / links

    def source(self, figure: str) -> str:
        """The source of one figure: "link_bandwidth", "link_latency", "network_bandwidth"..."""
        return self.sources.get(figure) or self.sources.get("*", "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "link": self.link,
            "link_bandwidth": self.link_bandwidth,
            "link_latency_s": self.link_latency_s,
            "gpus_per_node": self.gpus_per_node,
            "network": self.network,
            "network_bandwidth": self.network_bandwidth,
            "network_latency_s": self.network_latency_s,
            "point_to_point_links": self.point_to_point_links,
            "sources": dict(self.sources),
        }


def interconnect_from_entry(entry: Mapping[str, Any], device: str) -> Interconnect:
    """A device table's ``[x.interconnect]``: ``link``, ``link_gbs`` (decimal GB/s per direction),
    ``link_latency_us``, ``gpus_per_node``, ``point_to_point_links``, ``network``, ``network_gbs``,
    ``network_latency_us``, ``source`` and a ``[notes]`` table of per-figure sources."""
    try:
        link_gbs = float(entry["link_gbs"])
    except KeyError:
        raise ValueError(f"device {device!r}: its interconnect needs link_gbs (decimal GB/s per direction)") from None
    source = str(entry.get("source", ""))
    notes = {str(k): str(v) for k, v in entry.get("notes", {}).items()}
    figures = {
        "link_gbs": "link_bandwidth",
        "link_latency_us": "link_latency",
        "gpus_per_node": "gpus_per_node",
        "point_to_point_links": "point_to_point_links",
        "network_gbs": "network_bandwidth",
        "network_latency_us": "network_latency",
    }
    sources = {name: f"{notes[key]}; {source}" if key in notes else source for key, name in figures.items() if key in entry}
    network_gbs = entry.get("network_gbs")
    network_latency = entry.get("network_latency_us")
    return Interconnect(
        link=str(entry.get("link", "GPU link")),
        link_bandwidth=link_gbs * _GIGA,
        link_latency_s=float(entry.get("link_latency_us", 0.0)) / 1e6,
        gpus_per_node=int(entry.get("gpus_per_node", 1)),
        network=str(entry["network"]) if "network" in entry else None,
        network_bandwidth=float(network_gbs) * _GIGA if network_gbs is not None else None,
        network_latency_s=float(network_latency) / 1e6 if network_latency is not None else None,
        point_to_point_links=int(entry.get("point_to_point_links", 0)),
        sources=sources,
    )
