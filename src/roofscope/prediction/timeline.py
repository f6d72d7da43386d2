"""The host issuing ops and the device running them: each op's share of the wall time.

GPU (and accelerator): the host queues kernels and goes on; the device runs them in order. An op
the host finishes issuing at h (its host time added to the host's clock) starts on the device at
max(h, the end of the previous kernel) and ends its device time later. Its share of the wall time
is how far it moves the end of the device's work: its device time plus the time the device sat
idle waiting for the host (``host_s``). An op that launches no kernel (a view) moves only the
host's clock. At the end, the forward returns when both are done: host time beyond the device's
end counts as the last op's. CPU: the thread that issues an op runs it, so each op takes its
host time plus its device time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

__all__ = ["Share", "Step", "timeline"]


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One op to place: its host time, its device time, whether it launches a kernel."""

    host_s: float
    device_s: float
    launches: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Share:
    """One op's share of the wall time, ``wall_s`` = its device time + ``host_s``."""

    wall_s: float
    host_s: float


def timeline(steps: Sequence[Step], *, overlapped: bool) -> list[Share]:
    """Each step's share of the wall time; the shares sum to the forward's predicted time."""
    if not overlapped:
        return [Share(step.host_s + step.device_s, step.host_s) for step in steps]
    host = device = 0.0
    shares: list[Share] = []
    for step in steps:
        host += step.host_s
        if not step.launches:
            shares.append(Share(0.0, 0.0))
            continue
        idle = max(0.0, host - device)
        device += idle + step.device_s
        shares.append(Share(idle + step.device_s, idle))
    if shares and host > device:
        last = shares[-1]
        shares[-1] = Share(last.wall_s + host - device, last.host_s + host - device)
    return shares
