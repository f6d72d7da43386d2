"""``Interconnect``: how a device's GPUs talk to each other, inside a node (NVLink, PCIe) and
between nodes (InfiniBand), each figure with its source.

Bandwidths are per GPU and per direction, in bytes/s: what one GPU can send while it receives as
much (NVLink 4's "900 GB/s" is both directions together, 450 GB/s each way). In a node without a
switch, whose GPUs are fully connected by point-to-point links (AMD Infinity Fabric), the link
bandwidth is the sum over a GPU's ``point_to_point_links`` links, one to each other GPU, and a
collective among g of the node's GPUs runs on the g - 1 links between them. ``latency_s`` is the
time one step of a collective takes before any byte counts (docs/conventions.md, "Parallelism").

The datasheet figures are the interconnect's roofline; the sustained ones, where published, are what
NCCL's ring collectives reach on it at large messages (nccl-tests' bus bandwidth, whose 2(n - 1)/n
and (n - 1)/n factors are the wire bytes counted here), and time the predicted collectives.
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
    sustained_link_bandwidth: float | None = None  # None: not measured; the datasheet figure is used
    sustained_network_bandwidth: float | None = None
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.link_bandwidth <= 0 or self.gpus_per_node < 1 or self.link_latency_s < 0:
            raise ValueError(f"interconnect {self.link!r}: bandwidth and GPUs per node must be positive, latency >= 0")
        if self.network_bandwidth is not None and self.network_bandwidth <= 0:
            raise ValueError(f"interconnect {self.link!r}: network bandwidth must be positive")
        if self.point_to_point_links < 0:
            raise ValueError(f"interconnect {self.link!r}: point-to-point links must be >= 0")
        for sustained in (self.sustained_link_bandwidth, self.sustained_network_bandwidth):
            if sustained is not None and sustained <= 0:
                raise ValueError(f"interconnect {self.link!r}: sustained bandwidths must be positive")
        if self.sustained_network_bandwidth is not None and self.network_bandwidth is None:
            raise ValueError(f"interconnect {self.link!r}: a sustained network bandwidth needs the network's datasheet figure")
        pairs = (
            (self.sustained_link_bandwidth, self.link_bandwidth, "link"),
            (self.sustained_network_bandwidth, self.network_bandwidth, "network"),
        )
        for sustained, datasheet, what in pairs:
            if sustained is not None and datasheet is not None and sustained > datasheet:
                raise ValueError(f"interconnect {self.link!r}: the sustained {what} bandwidth exceeds its datasheet figure")

    def link_rate(self, *, sustained: bool = False) -> float:
        """A GPU's link bandwidth per direction: the datasheet's, or ``sustained`` the measured one
        where there is one."""
        return (self.sustained_link_bandwidth or self.link_bandwidth) if sustained else self.link_bandwidth

    def network_rate(self, *, sustained: bool = False) -> float | None:
        """A GPU's network bandwidth per direction (None: not published), datasheet or sustained."""
        if self.network_bandwidth is None:
            return None
        return (self.sustained_network_bandwidth or self.network_bandwidth) if sustained else self.network_bandwidth

    def group_bandwidth(self, group: int, *, sustained: bool = False) -> float:
        """Per-direction bandwidth of one GPU in a collective among ``group`` GPUs of a node: the
        whole link bandwidth through a switch; with point-to-point links, the share of the g - 1
        links that reach the group's other GPUs."""
        rate = self.link_rate(sustained=sustained)
        links = self.point_to_point_links
        if not links:
            return rate
        return rate * min(max(group - 1, 1), links) / links

    def ring_network_bandwidth(self, members_per_node: int, *, sustained: bool = False) -> float | None:
        """Per-direction bandwidth of a ring collective across nodes whose group has
        ``members_per_node`` GPUs in each node: NCCL runs one ring per network port, each crossing
        between nodes on a different GPU's port, so the crossing carries members x one GPU's
        network bandwidth, up to the members' own bandwidth inside the node (2 nodes x 8 A100 with
        8 HDR ports: 188 GB/s bus bandwidth, 8 x 23.5). None without network figures."""
        network = self.network_rate(sustained=sustained)
        if network is None:
            return None
        members = max(members_per_node, 1)
        return min(self.group_bandwidth(members, sustained=sustained), members * network)

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
            "sustained_link_bandwidth": self.sustained_link_bandwidth,
            "sustained_network_bandwidth": self.sustained_network_bandwidth,
            "sources": dict(self.sources),
        }


def interconnect_from_entry(entry: Mapping[str, Any], device: str) -> Interconnect:
    """A device table's ``[x.interconnect]``: ``link``, ``link_gbs`` (decimal GB/s per direction),
    ``link_latency_us``, ``gpus_per_node``, ``point_to_point_links``, ``network``, ``network_gbs``,
    ``network_latency_us``, ``sustained_link_gbs`` and ``sustained_network_gbs`` (measured bus
    bandwidths), ``source`` and a ``[notes]`` table of per-figure sources."""
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
        "sustained_link_gbs": "sustained_link_bandwidth",
        "sustained_network_gbs": "sustained_network_bandwidth",
    }
    sources = {name: f"{notes[key]}; {source}" if key in notes else source for key, name in figures.items() if key in entry}
    network_latency = entry.get("network_latency_us")
    return Interconnect(
        link=str(entry.get("link", "GPU link")),
        link_bandwidth=link_gbs * _GIGA,
        link_latency_s=float(entry.get("link_latency_us", 0.0)) / 1e6,
        gpus_per_node=int(entry.get("gpus_per_node", 1)),
        network=str(entry["network"]) if "network" in entry else None,
        network_bandwidth=_gbs(entry.get("network_gbs")),
        network_latency_s=float(network_latency) / 1e6 if network_latency is not None else None,
        point_to_point_links=int(entry.get("point_to_point_links", 0)),
        sustained_link_bandwidth=_gbs(entry.get("sustained_link_gbs")),
        sustained_network_bandwidth=_gbs(entry.get("sustained_network_gbs")),
        sources=sources,
    )


def _gbs(value: Any) -> float | None:
    return float(value) * _GIGA if value is not None else None
