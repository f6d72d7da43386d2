"""The bytes torch.compile's inductor says its kernels move, to check the compiled-mode estimate.

roofscope's compiled mode (``analyze(..., mode="compiled")``, ``roofscope.prediction.fusion``)
estimates the kernels a fusing compiler makes without compiling. This compiles the model for real
with inductor on the CPU, runs it once on the inputs, and reads inductor's own count: for every
kernel of the scheduled graph, generated or library (``GraphLowering.count_bytes``: the sizes of
the buffers each kernel reads and writes), summed as ``torch._inductor.metrics.num_bytes_accessed``.

Inductor's layout optimisation is turned off for the compile: on the CPU it converts every
convolution weight to channels-last on each call (a copy of all the weights per forward that a GPU
or a frozen, inference-prepared graph does not make), which the estimate does not model. Slow: the
compile generates and builds C++ kernels, a minute or more for a ResNet on two cores.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from roofscope.inputs import prepare_inputs
from roofscope.measurement.run import MeasureError

__all__ = ["InductorBytes", "inductor_bytes"]

#: The logger whose level decides whether inductor counts its kernels' bytes (torch._inductor.compile_fx).
_METRICS_LOGGER = "torch._inductor.compile_fx.__inductor_metrics"


@dataclasses.dataclass(frozen=True)
class InductorBytes:
    """What inductor's compiled forward moves: bytes over all kernels, the number of kernels, and
    how long the compile and first run took (seconds)."""

    bytes: int
    kernels: int
    compile_s: float

    def difference(self, estimate: int) -> float:
        """(estimate - inductor's bytes) / inductor's bytes."""
        return (estimate - self.bytes) / self.bytes if self.bytes else 0.0


class _Drop(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextmanager
def _counting() -> Iterator[None]:
    """Inductor's per-kernel byte count switched on (its metrics logger at INFO, the records it
    writes dropped rather than printed), and the logger as it was afterwards."""
    logger = logging.getLogger(_METRICS_LOGGER)
    level, drop = logger.level, _Drop()
    logger.setLevel(logging.INFO)
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)
        logger.setLevel(level)


def inductor_bytes(model: torch.nn.Module, inputs: Any) -> InductorBytes:
    """Compile ``model`` (on the CPU, real tensors) with inductor, run it once under no_grad on
    ``inputs`` (as ``analyze`` takes them), and return inductor's byte count. The model is not
    changed; torch.compile keeps its compiled code in its own caches (``torch.compiler.reset()``
    clears them), inductor's metrics counters are reset, and the first torch.compile of a process
    wraps ``nn.Module.__init__`` for good, as it always does."""
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config
    import torch._inductor.metrics as metrics

    args, kwargs = prepare_inputs(model, inputs)
    compiled = torch.compile(model, backend="inductor")
    metrics.reset()
    start = time.perf_counter()
    # The caches off: a graph compiled before (on disk, by an earlier run) is loaded without being
    # scheduled again, and would count nothing.
    no_caches = inductor_config.patch(layout_optimization=False, fx_graph_cache=False, fx_graph_remote_cache=False)
    with _counting(), no_caches, functorch_config.patch(enable_autograd_cache=False), torch.no_grad():
        compiled(*args, **kwargs)
    elapsed = time.perf_counter() - start
    counted = InductorBytes(int(metrics.num_bytes_accessed), len(metrics.nodes_num_elem), elapsed)
    metrics.reset()
    if not counted.kernels:
        raise MeasureError(
            f"inductor compiled no kernel for {type(model).__name__}: it was compiled before in this process "
            "(torch.compiler.reset() clears torch.compile's caches) or its forward has no tensor operation"
        )
    return counted
