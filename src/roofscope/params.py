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

    def __add__(self, other: ParamCount) -> ParamCount:
        """The count of two disjoint sets of tensors together."""
        return ParamCount(
            self.total + other.total,
            self.trainable + other.trainable,
            self.bytes + other.bytes,
            self.buffers + other.buffers,
            self.buffer_bytes + other.buffer_bytes,
        )

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


#: Tensors by id: a tensor shared by several modules is the same object, so its id counts it once.
_Tensors = dict[int, torch.Tensor]


def _packed_weights(module: torch.nn.Module) -> list[torch.Tensor]:
    """The weights and biases that a torch.ao quantised layer keeps packed (``_packed_params``, a
    ScriptObject that is not a Parameter), of the module itself."""
    packed: Any = module.__dict__.get("_packed_params")
    if isinstance(packed, torch.ScriptObject) and packed._has_method("unpack"):  # type: ignore[attr-defined]
        return [tensor for tensor in packed.unpack() if isinstance(tensor, torch.Tensor)]  # type: ignore[attr-defined]
    return []


def count_parameters(model: torch.nn.Module, *, every_name: bool = False) -> dict[str, ParamCount]:
    """ParamCount for every module's subtree, keyed by qualified name ("" is the root).

    A parameter shared by several modules is counted once in each subtree that holds it, and once
    in any subtree that holds it through more than one path. Tied weights are the same Parameter
    object (gpt2's lm_head.weight = wte.weight), so a tensor is known by its id. A quantised
    layer's packed weights (torch.ao dynamic and static quantisation) are parameters too, frozen,
    counted at their stored size (1 byte per int8 weight). ``every_name``: a module held by several
    parents is listed under each of its names (else under its first).
    """
    sizes: dict[int, tuple[int, int]] = {}  # id -> (elements, bytes)

    def size(tensor: torch.Tensor) -> tuple[int, int]:
        found = sizes.get(id(tensor))
        if found is None:
            found = sizes[id(tensor)] = (tensor.numel(), tensor.numel() * tensor.element_size())
        return found

    def count(parameters: _Tensors, buffers: _Tensors, packed: _Tensors) -> ParamCount:
        total = trainable = nbytes = elements = buffer_bytes = 0
        for tensor in packed.values():
            elements_, bytes_ = size(tensor)
            total += elements_
            nbytes += bytes_
        for parameter in parameters.values():
            elements_, bytes_ = size(parameter)
            total += elements_
            nbytes += bytes_
            if parameter.requires_grad:
                trainable += elements_
        for key, buffer in buffers.items():
            if key not in parameters:
                elements_, bytes_ = size(buffer)
                elements += elements_
                buffer_bytes += bytes_
        return ParamCount(total, trainable, nbytes, elements, buffer_bytes)

    subtrees: dict[int, tuple[_Tensors, _Tensors, _Tensors, ParamCount]] = {}

    def below(module: torch.nn.Module) -> tuple[_Tensors, _Tensors, _Tensors, ParamCount]:
        """The parameters, buffers and packed weights of the module's subtree, each once, and their
        count: computed once per module from its children's, rather than walking the subtree again
        for every module in it. Where the children and the module hold no tensor in common (the
        union is as large as its parts), the count is the sum of theirs. Packed weights are unpacked
        once per module, and the unpacked tensors stay referenced here until the count is done, so
        that their ids tell them apart."""
        known = subtrees.get(id(module))
        if known is not None:
            return known
        parameters: _Tensors = {id(p): p for p in module._parameters.values() if p is not None}
        buffers: _Tensors = {id(b): b for b in module._buffers.values() if b is not None}
        packed: _Tensors = {id(t): t for t in _packed_weights(module)}
        summed = count(parameters, buffers, packed)
        parts = len(parameters) + len(buffers) + len(packed)
        for child in module._modules.values():
            if child is not None:
                child_parameters, child_buffers, child_packed, child_count = below(child)
                parameters.update(child_parameters)
                buffers.update(child_buffers)
                packed.update(child_packed)
                summed = summed + child_count
                parts += len(child_parameters) + len(child_buffers) + len(child_packed)
        disjoint = parts == len(parameters) + len(buffers) + len(packed) and buffers.keys().isdisjoint(parameters)
        found = subtrees[id(module)] = (parameters, buffers, packed, summed if disjoint else count(parameters, buffers, packed))
        return found

    return {name: below(module)[3] for name, module in model.named_modules(remove_duplicate=not every_name)}
