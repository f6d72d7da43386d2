"""The default loss of a backward analysis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from roofscope.capture.failure import BackwardError
from roofscope.events import TensorMeta, iter_tensors

__all__ = ["sum_of_outputs"]


def sum_of_outputs(output: Any) -> torch.Tensor:
    """The default loss of a backward analysis: the model's own loss when it returns one (a
    ModelOutput or dict whose "loss" is a one-element floating-point tensor that requires grad, as
    transformers' models return when given ``labels``); otherwise the sum of every floating-point
    output tensor that requires grad (a ModelOutput, dict, list or tuple is searched; other values
    are skipped). A loss returned inside a tuple (transformers' ``return_dict=False``) is not told
    apart from the other outputs: it is summed with them.

    Raises BackwardError when there is none, saying what the forward returned.
    """
    own = output.get("loss") if isinstance(output, Mapping) else None
    if isinstance(own, torch.Tensor) and own.is_floating_point() and own.requires_grad and own.numel() == 1:
        return own
    found = [t for t in iter_tensors(output, torch.Tensor) if t.is_floating_point() or t.is_complex()]
    differentiable = [t for t in found if t.requires_grad]
    if not differentiable:
        returned = ", ".join(str(TensorMeta.of(t)) for t in iter_tensors(output, torch.Tensor)) or f"no tensor ({type(output).__name__})"
        if not found:
            raise BackwardError(f"the forward returned no floating-point tensor to differentiate (it returned {returned})")
        raise BackwardError(
            f"no output requires grad (the forward returned {returned}): the output depends on no parameter "
            "with requires_grad=True (the model has none, or they are frozen, or the forward detached them)"
        )
    loss = differentiable[0].sum()
    for tensor in differentiable[1:]:
        loss = loss + tensor.sum()
    return loss
