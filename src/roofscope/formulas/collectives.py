"""Collectives of ``torch.distributed``'s functional API (``_c10d_functional``), as a model
parallelised with DTensor (``torch.distributed.tensor.parallel``) or ``funcol`` calls them.

A collective's Cost is what it moves through this GPU's memory: the message read once and the
result written once, 0 FLOPs (a reduction's adds run inside the collective, and an all-reduce's
arguments do not carry its group's size to count them). What crosses the wire, and how long it
takes on the interconnect, is ``roofscope.llm.parallel``'s (docs/conventions.md, "Parallelism"):
not a report's roofline, which times the local traffic.

all_reduce(x): reads x, writes x (the reduced tensor, same size). all_gather_into_tensor(x, n):
reads x, writes n x. reduce_scatter_tensor(x, n): reads x, writes x / n. all_to_all_single(x):
reads x, writes its output. broadcast(x): reads x, writes x. wait_tensor(x) and the autograd
wrapper: nothing (a wait and a view of the result).
"""

from __future__ import annotations

from roofscope.cost import Cost
from roofscope.events import OpEvent
from roofscope.formulas._registry import Family

__all__ = ["collective", "wait"]

family = Family("collectives")


@family(
    "_c10d_functional.all_reduce",
    "_c10d_functional.all_reduce_",
    "_c10d_functional.all_gather_into_tensor",
    "_c10d_functional.reduce_scatter_tensor",
    "_c10d_functional.all_to_all_single",
    "_c10d_functional.broadcast",
    "_c10d_functional.broadcast_",
)
def collective(event: OpEvent) -> Cost:
    """(input, ...): the message (the input tensor) read once, the result written once."""
    message = event.args[0]
    return Cost(0, 0, message.nbytes, event.output.nbytes)


@family("_c10d_functional.wait_tensor", "_c10d_functional._wrap_tensor_autograd")
def wait(event: OpEvent) -> Cost:
    """(tensor): waits for the collective that produces it; moves nothing."""
    return Cost()
