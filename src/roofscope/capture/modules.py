"""Which module an op runs in: the forward's module stack, and the backward's autograd nodes."""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from roofscope.events import iter_tensors

__all__ = ["BackwardModules", "ModuleStack"]


class ModuleStack:
    """Tracks the innermost module of the analysed model that is running.

    ``torch.utils.module_tracker.ModuleTracker`` exposes only an unordered set of parent names and
    names the root by its class, so the innermost module cannot be read from it; a stack of the
    model's own qualified names can, from the same global forward hooks.

    ``shared``: where a submodule reachable under several names (one module object held by two
    parents) is charged: "owner", its first name in ``named_modules()``, on every call; or "caller",
    the name under the parent that is running when it is called (the first name when none is).
    """

    def __init__(self, model: torch.nn.Module, shared: str = "owner", progress: Callable[[int, int], None] | None = None) -> None:
        named = list(model.named_modules(remove_duplicate=shared != "caller"))
        self.names: dict[int, str] = {}
        self.aliases: dict[int, list[str]] = {}
        for name, module in named:
            self.names.setdefault(id(module), name)
            self.aliases.setdefault(id(module), []).append(name)
        self.stack: list[str] = []
        self.calls: dict[str, int] = {}
        self.types: dict[str, str] = {name: type(module).__name__ for name, module in named}
        #: Module calls begun since the recorder last took the count (``entered()``).
        self.pending_calls = 0
        #: ``progress(modules run so far, modules of the model)``, called as each module first runs:
        #: a forward runs its modules in order, so this is how far through the model it is.
        self.progress = progress

    @property
    def current(self) -> str:
        return self.stack[-1] if self.stack else ""

    def _enter(self, module: torch.nn.Module, args: Any) -> None:
        name = self.names.get(id(module))
        if name is not None:
            aliases = self.aliases[id(module)]
            if len(aliases) > 1:
                name = next((alias for alias in aliases if alias.rpartition(".")[0] == self.current), name)
            self.stack.append(name)
            calls = self.calls.get(name, 0)
            self.calls[name] = calls + 1
            self.pending_calls += 1
            if not calls and self.progress is not None:
                self.progress(len(self.calls), len(self.types))

    def entered(self) -> int:
        """How many module calls began since the last time this was asked."""
        count, self.pending_calls = self.pending_calls, 0
        return count

    def _leave(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        # Not registered with always_call: when a forward raises, the failing module stays on top of
        # the stack for the error message. A parent that caught its child's exception pops both here.
        aliases = self.aliases.get(id(module), ())
        name = next((alias for alias in reversed(self.stack) if alias in aliases), None)
        if name is not None:
            while self.stack.pop() != name:
                pass

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from torch.nn.modules.module import (
            register_module_forward_hook,
            register_module_forward_pre_hook,
        )

        pre = register_module_forward_pre_hook(self._enter)
        try:
            post = register_module_forward_hook(self._leave)
            try:
                yield
            finally:
                post.remove()
        finally:
            pre.remove()


_ACCUMULATE_GRAD = 2**64 - 1  # the sequence number of AccumulateGrad nodes (they have none of their own)


class BackwardModules:
    """Which module a backward op belongs to: the module whose forward created the autograd node
    the engine is running.

    Module hooks do not run in the backward pass. Instead, during the forward, every torch function
    call that returns a tensor with a ``grad_fn`` marks that node's sequence number with the module
    that called it. Sequence numbers grow in creation order, so the nodes a composite function
    creates inside itself (linear's transpose, say) fall between the previous mark and its own: the
    first mark at or above a node's number names its module. AccumulateGrad nodes (writing a
    parameter's .grad) belong to the module that owns the parameter; work outside any node (the
    engine seeding the gradient) and the loss belong to the model itself ("").
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.sequence: list[int] = []
        self.modules: list[str] = []
        self.owners = {id(p): name.rpartition(".")[0] for name, p in model.named_parameters(remove_duplicate=False)}

    def mark(self, result: Any, module: str) -> None:
        node = next((t.grad_fn for t in iter_tensors(result, torch.Tensor) if t.grad_fn is not None), None)
        if node is None:
            return
        number = node._sequence_nr()
        if number == _ACCUMULATE_GRAD or (self.sequence and number <= self.sequence[-1]):
            return  # an existing node returned again (a tensor passed through): already marked
        self.sequence.append(number)
        self.modules.append(module)

    def current(self) -> str:
        node = torch._C._current_autograd_node()
        if node is None:
            return ""
        number = node._sequence_nr()
        if number == _ACCUMULATE_GRAD:
            variable = getattr(node, "variable", None)
            return self.owners.get(id(variable), "")
        index = bisect.bisect_left(self.sequence, number)
        return self.modules[index] if index < len(self.modules) else ""
