"""Which of an op's output bytes land on freshly mapped pages, on a CPU whose allocator is glibc's.

Writing a page the process has not touched since the kernel mapped it costs a page fault (a few
microseconds per 4 KiB page), far more than writing a page already resident. A forward hands some
of its ops such pages: glibc's malloc maps every allocation of at least its mmap threshold afresh
and unmaps it on free, and gives the top of its heap back to the kernel when more than its trim
threshold of it is free. Both thresholds move: the mmap threshold starts at 128 KiB and rises to
the size of each mapped chunk freed (up to 32 MiB), the trim threshold is twice it. Which outputs
fault therefore depends on the order and sizes of a forward's allocations.

``fresh_bytes`` replays them through a model of glibc's main arena (malloc/malloc.c, glibc 2.36):

- a request takes the smallest free chunk that holds it (glibc's bins are best fit for large
  chunks), splitting off the rest; else the top of the heap, if it holds it; else, at or above
  the mmap threshold, a mapping of its own (fresh pages, unmapped on free, the threshold raised to
  its size when that is at most ``MMAP_THRESHOLD_MAX``); else the heap grows by the request and
  the top pad;
- a freed chunk merges with free neighbours and with the top; when the merged chunk is at least
  ``CONSOLIDATION_BYTES`` and the top exceeds the trim threshold, the top is given back to the
  kernel down to the top pad;
- the heap's pages below the highest byte written since its last shrink are resident; a chunk's
  bytes above it are fresh when the chunk is written.

Each op's new buffers (an output in a buffer no earlier op touched) are allocated when it runs, and
a buffer is freed after the last op that touches it; the forward's own inputs, its parameters and
its final outputs are never freed within it. The forward is replayed until the threshold settles,
as in a measured run after warm-up, and the last replay counts. Allocations inside an op that it
does not return (a convolution's reordered weights, the intermediates of an op captured as one
logical op) are not seen, so the count is a lower bound where an op has them.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence

from roofscope.events import OpEvent, TensorMeta

__all__ = ["CONSOLIDATION_BYTES", "MMAP_THRESHOLD_MAX", "Allocator", "fresh_bytes", "loop_fresh_bytes"]

PAGE = 4096
#: glibc's smallest chunk, and a chunk's header (64-bit).
MIN_CHUNK = 32
HEADER = 8
#: PyTorch's CPU allocator asks for 64-byte aligned memory (c10::alloc_cpu, posix_memalign), which
#: glibc serves from a chunk that much larger.
ALIGNMENT = 64
#: The most the dynamic mmap threshold rises to: glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit.
MMAP_THRESHOLD_MAX = 32 * 2**20
#: A free that merges a chunk of at least this many bytes may trim the heap (FASTBIN_CONSOLIDATION_THRESHOLD).
CONSOLIDATION_BYTES = 64 * 2**10
#: The replays of a forward the count is taken after: the threshold settles within the first.
REPLAYS = 3

#: Environment variables that set glibc's malloc parameters at start-up; with any of them set, the
#: thresholds no longer move as modelled here.
_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_", "MALLOC_ARENA_MAX")
#: Allocators that take malloc's place when preloaded or linked.
_OTHER_ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")


@dataclasses.dataclass(frozen=True)
class Allocator:
    """The malloc a CPU forward allocates its tensors with, as far as page faults go: glibc's, with
    its thresholds at their defaults (``mmap_threshold`` and ``trim_threshold`` where they start,
    both moving as the process frees mapped chunks; ``top_pad`` the heap grows by beyond a request,
    mallopt(3))."""

    mmap_threshold: int = 128 * 2**10
    trim_threshold: int = 128 * 2**10
    top_pad: int = 128 * 2**10

    @classmethod
    def of_process(cls, environ: Mapping[str, str] | None = None, maps: str | None = None) -> tuple[Allocator | None, str]:
        """This process's allocator, or None with why it is not modelled: not Linux with glibc,
        another allocator loaded (``maps``: /proc/self/maps), or glibc's settings changed from
        the environment (``environ``: os.environ)."""
        environ = os.environ if environ is None else environ
        if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
            return None, "first touch of fresh pages is modelled for glibc's malloc on Linux only"
        if maps is None:
            try:
                with open("/proc/self/maps", encoding="utf-8") as handle:
                    maps = handle.read()
            except OSError:
                maps = ""
        loaded = [name for name in _OTHER_ALLOCATORS if f"lib{name}" in maps or f"lib{name}" in environ.get("LD_PRELOAD", "")]
        if loaded:
            return None, f"first touch of fresh pages is not modelled: {loaded[0]} replaces glibc's malloc in this process"
        changed = [name for name in _SETTINGS if name in environ]
        if "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
            changed.append("GLIBC_TUNABLES")
        if changed:
            return None, f"first touch of fresh pages is not modelled: {changed[0]} changes glibc's malloc thresholds"
        return cls(), ""


class _Heap:
    """glibc's main arena, as the module docstring describes it: chunks by address, the top chunk,
    mapped chunks, and the bytes written to fresh pages so far (``fresh``)."""

    def __init__(self, allocator: Allocator) -> None:
        self.mmap_threshold = allocator.mmap_threshold
        self.trim_threshold = allocator.trim_threshold
        self.top_pad = allocator.top_pad
        self.chunks: dict[int, tuple[int, bool]] = {}  # start -> (size, free), below the top
        self.starts: list[int] = []  # the chunks' starts, in order
        self.free_chunks: list[tuple[int, int]] = []  # (size, start) of the free ones, in order
        self.top = 0  # where the top chunk starts
        self.end = 0  # where the heap ends (the program break)
        self.written = 0  # the highest heap byte written since the heap last shrank
        self.fresh = 0

    def malloc(self, nbytes: int) -> tuple[bool, int]:
        """A chunk for ``nbytes``: (mapped, its start or size)."""
        size = (nbytes + HEADER + ALIGNMENT + 15) // 16 * 16
        fit = bisect.bisect_left(self.free_chunks, (size, -1))
        if fit < len(self.free_chunks):
            found, start = self.free_chunks.pop(fit)
            if found - size >= MIN_CHUNK:
                self._set(start + size, found - size, free=True, new=True)
                found = size
            self.chunks[start] = (found, False)
            self._write(start, found)
            return False, start
        if self.end - self.top < size + MIN_CHUNK:
            if size >= self.mmap_threshold:
                mapped = -(-size // PAGE) * PAGE
                self.fresh += mapped
                return True, mapped
            self.end += -(-(size + MIN_CHUNK - (self.end - self.top) + self.top_pad) // PAGE) * PAGE
        start = self.top
        self._set(start, size, free=False, new=True)
        self.top += size
        self._write(start, size)
        return False, start

    def free(self, chunk: tuple[bool, int]) -> None:
        mapped, where = chunk
        if mapped:
            if self.mmap_threshold < where <= MMAP_THRESHOLD_MAX:
                self.mmap_threshold, self.trim_threshold = where, 2 * where
            return
        start, size = where, self.chunks[where][0]
        self._drop(start, size, free=False)
        position = bisect.bisect_left(self.starts, start)
        if position < len(self.starts) and self.starts[position] == start + size:
            after_size, after_free = self.chunks[start + size]
            if after_free:
                self._drop(start + size, after_size, free=True)
                size += after_size
        if position > 0:
            before = self.starts[position - 1]
            before_size, before_free = self.chunks[before]
            if before_free and before + before_size == start:
                self._drop(before, before_size, free=True)
                start, size = before, before_size + size
        if start + size == self.top:
            self.top = start
        else:
            self._set(start, size, free=True, new=True)
        if size >= CONSOLIDATION_BYTES and self.end - self.top >= self.trim_threshold:
            release = (self.end - self.top - self.top_pad - MIN_CHUNK) // PAGE * PAGE
            if release > 0:
                self.end -= release
                self.written = min(self.written, self.end)

    def _write(self, start: int, size: int) -> None:
        if start + size > self.written:
            self.fresh += start + size - max(start, self.written)
            self.written = start + size

    def _set(self, start: int, size: int, *, free: bool, new: bool) -> None:
        self.chunks[start] = (size, free)
        if new:
            bisect.insort(self.starts, start)
        if free:
            bisect.insort(self.free_chunks, (size, start))

    def _drop(self, start: int, size: int, *, free: bool) -> None:
        del self.chunks[start]
        self.starts.pop(bisect.bisect_left(self.starts, start))
        if free:
            self.free_chunks.pop(bisect.bisect_left(self.free_chunks, (size, start)))


def fresh_bytes(events: Sequence[OpEvent], allocator: Allocator, size: Callable[[TensorMeta], int] | None = None) -> list[int]:
    """Per op, the bytes of its new buffers that land on fresh pages in a forward repeated after
    warm-up. ``size``: a tensor's bytes (default its own; the prediction passes the target
    precision's)."""
    nbytes = size or (lambda tensor: tensor.nbytes)
    known: set[int] = set()
    created: dict[int, int] = {}  # buffer -> the op that made it
    last: dict[int, int] = {}
    sizes: dict[int, int] = {}
    for position, event in enumerate(events):
        for tensor in event.inputs:
            if tensor.buffer:
                known.add(tensor.buffer)
                last[tensor.buffer] = position
        for tensor in event.outputs:
            if tensor.buffer:
                if tensor.buffer not in known:
                    created[tensor.buffer] = position
                    known.add(tensor.buffer)
                last[tensor.buffer] = position
                sizes[tensor.buffer] = max(sizes.get(tensor.buffer, 0), nbytes(tensor))
    kept = {tensor.buffer for tensor in events[-1].outputs} if events else set()
    made: list[list[int]] = [[] for _ in events]
    ended: list[list[int]] = [[] for _ in events]
    for buffer, position in created.items():
        if sizes[buffer]:
            made[position].append(buffer)
            if buffer not in kept:
                ended[last[buffer]].append(buffer)
    heap = _Heap(allocator)
    fresh: list[int] = []
    for _ in range(REPLAYS):
        live: dict[int, tuple[bool, int]] = {}
        fresh = []
        for position in range(len(events)):
            before = heap.fresh
            for buffer in made[position]:
                live[buffer] = heap.malloc(sizes[buffer])
            fresh.append(heap.fresh - before)
            for buffer in ended[position]:
                heap.free(live.pop(buffer))
        for chunk in live.values():  # the forward's outputs, dropped by the caller
            heap.free(chunk)
    return fresh


def loop_fresh_bytes(sizes: Sequence[int], allocator: Allocator) -> int:
    """The bytes on fresh pages per call of an op run in a loop (as a probe times it), whose
    outputs are ``sizes`` bytes each, made and freed by every call."""
    heap = _Heap(allocator)
    fresh = 0
    for _ in range(REPLAYS):
        before = heap.fresh
        chunks = [heap.malloc(nbytes) for nbytes in sizes if nbytes]
        for chunk in chunks:
            heap.free(chunk)
        fresh = heap.fresh - before
    return fresh
