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
    in any subtree that holds it through more than one path. Tied weights are the same Parameter
    object (gpt2's lm_head.weight = wte.weight), so a tensor is known by its id. A quantised
    layer's packed weights (torch.ao dynamic and static quantisation) are parameters too, frozen,
    counted at their stored size (1 byte per int8 weight). ``every_name``: a module held by several
    parents is listed under each of its names (else under its first).
    """
    subtrees: dict[int, tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]] = {}

    def below(module: torch.nn.Module) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
        """The parameters and buffers of the module's subtree, each once: computed once per module
        from its children's, rather than walking the subtree again for every module in it."""
        known = subtrees.get(id(module))
        if known is not None:
            return known
        parameters: dict[int, torch.Tensor] = {id(p): p for p in module._parameters.values() if p is not None}
        buffers = {id(b): b for b in module._buffers.values() if b is not None}
        for child in module._modules.values():
            if child is not None:
                child_parameters, child_buffers = below(child)
                parameters.update(child_parameters)
                buffers.update(child_buffers)
        subtrees[id(module)] = (parameters, buffers)
        return parameters, buffers

    sizes: dict[int, tuple[int, int]] = {}  # id -> (elements, bytes)

    def size(tensor: torch.Tensor) -> tuple[int, int]:
        found = sizes.get(id(tensor))
        if found is None:
            found = sizes[id(tensor)] = (tensor.numel(), tensor.numel() * tensor.element_size())
        return found

    counts: dict[str, ParamCount] = {}
    for name, module in model.named_modules(remove_duplicate=not every_name):
        parameters, buffers = below(module)
        total = trainable = nbytes = elements = buffer_bytes = 0
        # unpacked afresh on every call, so neither cached by id nor kept past this module
        packed = {id(tensor): tensor for tensor in _packed_weights(module)}
        for tensor in packed.values():
            total += tensor.numel()
            nbytes += tensor.numel() * tensor.element_size()
        for parameter in parameters.values():
            count, bytes_ = size(parameter)
            total += count
            nbytes += bytes_
            if parameter.requires_grad:
                trainable += count
        for key, buffer in buffers.items():
            if key not in parameters:
                count, bytes_ = size(buffer)
                elements += count
                buffer_bytes += bytes_
        counts[name] = ParamCount(total, trainable, nbytes, elements, buffer_bytes)
    return counts
