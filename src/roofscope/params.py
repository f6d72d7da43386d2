"""Parameter and buffer counting, per module, with shared tensors counted once."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

__all__ = ["ParamCount", "count_parameters"]


@dataclasses.dataclass(frozen=True, slots=True)
class ParamCount:
    """Parameters and buffers of a module and everything below it."""

    total: int = 0
    trainable: int = 0
    bytes: int = 0
    buffers: int = 0
    buffer_bytes: int = 0

    @property
    def frozen(self) -> int:
        return self.total - self.trainable

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def _identity(tensor: torch.Tensor) -> int:
    # Tied weights are the same Parameter object, or views of one storage; id() of the Parameter
    # catches the first, which is how nn.Module ties them (gpt2's lm_head.weight = wte.weight).
    return id(tensor)


def _packed_weights(module: torch.nn.Module) -> list[torch.Tensor]:
    """The weights and biases that torch.ao's quantised layers keep packed (``_packed_params``, a
    ScriptObject that is not a Parameter), of the module and everything below it."""
    found = []
    for below in module.modules():
        packed: Any = below.__dict__.get("_packed_params")
        if isinstance(packed, torch.ScriptObject) and packed._has_method("unpack"):  # type: ignore[attr-defined]
            found += [tensor for tensor in packed.unpack() if isinstance(tensor, torch.Tensor)]  # type: ignore[attr-defined]
    return found


def count_parameters(model: torch.nn.Module, *, every_name: bool = False) -> dict[str, ParamCount]:
    """ParamCount for every module's subtree, keyed by qualified name ("" is the root).

    A parameter shared by several modules is counted once in each subtree that holds it, and once
    in any subtree that holds it through more than one path. A quantised layer's packed weights
    (torch.ao dynamic and static quantisation) are parameters too, frozen, counted at their stored
    size (1 byte per int8 weight). ``every_name``: a module held by several parents is listed under
    each of its names (else under its first).
    """
    counts: dict[str, ParamCount] = {}
    for name, module in model.named_modules(remove_duplicate=not every_name):
        seen: set[int] = set()
        total = trainable = nbytes = buffers = buffer_bytes = 0
        for packed in _packed_weights(module):  # a quantised layer's weights, frozen, at their stored size
            if id(packed) in seen:
                continue
            seen.add(id(packed))
            total += packed.numel()
            nbytes += packed.numel() * packed.element_size()
        for parameter in module.parameters():  # deduplicated by nn.Module across the subtree
            key = _identity(parameter)
            if key in seen:
                continue
            seen.add(key)
            total += parameter.numel()
            trainable += parameter.numel() if parameter.requires_grad else 0
            nbytes += parameter.numel() * parameter.element_size()
        for buffer in module.buffers():
            if _identity(buffer) in seen:
                continue
            seen.add(_identity(buffer))
            buffers += buffer.numel()
            buffer_bytes += buffer.numel() * buffer.element_size()
        counts[name] = ParamCount(total, trainable, nbytes, buffers, buffer_bytes)
    return counts
