"""Which of an op's reads the device's last-level cache serves: an LRU cache of buffers.

The ops run in order; each touches the buffers it reads and then those it writes (the most recently
used last). A read hits when the buffer is in the cache, i.e. when it and every buffer touched since
its last use fit in the cache's capacity (its LRU stack distance is within it). Writes always reach
memory (a write-back cache writes every line back once). The sequence is run twice and the second
pass counts: a measured forward follows other forwards, so a model whose whole working set fits
(small weights at batch 1) finds its weights in the cache. Tensors of unknown buffer (number 0)
always miss, and ops that move no data (views) touch nothing. A buffer takes the bytes of it that
have been read (a gather's rows of a table) or written, up to the largest tensor seen in it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from roofscope.events import OpEvent, TensorMeta
from roofscope.precision import Precision, target_nbytes

__all__ = ["cached_read_fractions"]


def cached_read_fractions(
    events: Sequence[OpEvent], capacity: float, precision: Precision | None = None, touched: Sequence[float] | None = None
) -> list[float]:
    """Per op, the share (0..1) of the bytes of its input tensors that the cache serves; tensors
    are as large as in the target ``precision``. ``touched``: per op, the share of its input
    tensors' bytes it really reads (0 for a view, which touches no cache line; a gather's rows out
    of its table); by default 1."""

    def size(tensor: TensorMeta) -> int:
        return target_nbytes(tensor, precision.activations) if precision is not None else tensor.nbytes

    sizes: dict[int, int] = {}
    for event in events:
        for tensor in (*event.inputs, *event.outputs):
            if tensor.buffer:
                sizes[tensor.buffer] = max(sizes.get(tensor.buffer, 0), size(tensor))
    cache: OrderedDict[int, int] = OrderedDict()  # buffer -> bytes, least recently used first
    used = 0
    fractions: list[float] = []
    for counting in (False, True):
        fractions = []
        for position, event in enumerate(events):
            share = 1.0 if touched is None else touched[position]
            if not share:
                fractions.append(0.0)
                continue
            read = hit = 0
            for tensor in event.inputs:
                read += size(tensor)
                if tensor.buffer and _distance(cache, tensor.buffer) <= capacity:
                    hit += size(tensor)
            fractions.append(hit / read if read and counting else 0.0)
            for tensor in event.inputs:
                if tensor.buffer:
                    used = _touch(cache, tensor.buffer, int(min(sizes[tensor.buffer], size(tensor) * share)), used, capacity)
            for tensor in event.outputs:
                if tensor.buffer:
                    used = _touch(cache, tensor.buffer, sizes[tensor.buffer], used, capacity)
    return fractions


def _distance(cache: OrderedDict[int, int], buffer: int) -> float:
    """The bytes of ``buffer`` and of everything used since it, or infinity if it is not cached."""
    if buffer not in cache:
        return float("inf")
    total = 0
    for other in reversed(cache):
        total += cache[other]
        if other == buffer:
            return total
    return float("inf")  # pragma: no cover - the buffer is in the cache


def _touch(cache: OrderedDict[int, int], buffer: int, size: int, used: int, capacity: float) -> int:
    """Make ``buffer`` (``size`` bytes of it) the most recently used; evict the least recently used
    beyond the capacity."""
    if buffer in cache:
        cache.move_to_end(buffer)
        if size > cache[buffer]:
            used += size - cache[buffer]
            cache[buffer] = size
    else:
        cache[buffer] = size
        used += size
    while used > capacity and len(cache) > 1:
        _, evicted = cache.popitem(last=False)
        used -= evicted
    return used
