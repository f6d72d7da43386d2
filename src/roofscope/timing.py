"""Clocks: one op, and one whole forward, on the CPU (``perf_counter_ns``; CPU ops are synchronous)
or on a CUDA device (CUDA events, the GPU's own clock); and the name of the CPU that ran them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import torch

__all__ = ["CpuClock", "CudaClock", "clock_for", "cpu_name", "thread_count"]


class CpuClock:
    name = "perf_counter_ns around each op"

    def __init__(self) -> None:
        self.durations: list[int] = []

    def begin(self) -> None:
        self.durations = []

    def start(self) -> int:
        return time.perf_counter_ns()

    def stop(self, started: int) -> None:
        self.durations.append(time.perf_counter_ns() - started)

    def read(self) -> list[float]:
        return [d / 1e9 for d in self.durations]

    @contextlib.contextmanager
    def forward(self, elapsed: list[float]) -> Iterator[None]:
        started = time.perf_counter_ns()
        yield
        elapsed.append((time.perf_counter_ns() - started) / 1e9)


class CudaClock:
    name = "CUDA events around each op (GPU time), one synchronisation per forward"

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.stream = torch.cuda.current_stream(device)
        self.pairs: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []  # reused across forwards
        self.used = 0

    def _pair(self) -> tuple[torch.cuda.Event, torch.cuda.Event]:
        if self.used == len(self.pairs):
            self.pairs.append((torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)))
        pair = self.pairs[self.used]
        self.used += 1
        return pair

    def begin(self) -> None:
        torch.cuda.synchronize(self.device)
        self.used = 0

    def start(self) -> tuple[torch.cuda.Event, torch.cuda.Event]:
        pair = self._pair()
        pair[0].record(self.stream)
        return pair

    def stop(self, pair: tuple[torch.cuda.Event, torch.cuda.Event]) -> None:
        pair[1].record(self.stream)

    def read(self) -> list[float]:
        torch.cuda.synchronize(self.device)
        return [start.elapsed_time(end) / 1e3 for start, end in self.pairs[: self.used]]

    @contextlib.contextmanager
    def forward(self, elapsed: list[float]) -> Iterator[None]:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(self.device)  # an empty queue: the start event fires when the forward starts
        start.record(self.stream)
        yield
        end.record(self.stream)
        torch.cuda.synchronize(self.device)
        elapsed.append(start.elapsed_time(end) / 1e3)


def clock_for(device: torch.device) -> CpuClock | CudaClock:
    """The clock for a device: CUDA events on CUDA, perf_counter on CPU."""
    return CudaClock(device) if device.type == "cuda" else CpuClock()


def thread_count() -> str:
    """torch's CPU threads, as a report says it: "2 threads"."""
    count = torch.get_num_threads()
    return f"{count} thread{'' if count == 1 else 's'}"


def cpu_name() -> str:
    """The CPU's model name, as /proc/cpuinfo or the platform module gives it."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
