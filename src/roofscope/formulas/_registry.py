"""The formula registry: op name -> pure function of an OpEvent returning a Cost."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from roofscope.cost import Cost
from roofscope.events import OpEvent

__all__ = ["Family", "Formulas", "io_bytes", "op_name", "with_io"]

Formula = Callable[[OpEvent], Cost]


def op_name(op: Any) -> str:
    """Normalise an op given as "aten::mm", "aten.mm", torch.ops.aten.mm or an OpOverload."""
    packet = getattr(op, "overloadpacket", op)
    if not isinstance(packet, str):
        packet = str(packet)
    return packet.replace("::", ".")


class Formulas:
    """A mapping from op name to formula. Each analysis holds its own copy.

    Registering a name that already has a formula is an error unless ``replace=True`` says so, so a
    user's formula never silently shadows a built-in one (or the other way round).
    """

    def __init__(self, formulas: dict[str, Formula] | None = None, families: dict[str, str] | None = None) -> None:
        self._formulas: dict[str, Formula] = dict(formulas or {})
        self._families: dict[str, str] = dict(families or {})

    @classmethod
    def from_families(cls, families: Iterable[Family]) -> Formulas:
        formulas = cls()
        for family in families:
            for name, formula in family.formulas.items():
                if name in formulas._formulas:
                    raise ValueError(f"{name} is declared by both {formulas._families[name]} and {family.name}")
                formulas._formulas[name] = formula
                formulas._families[name] = family.name
        return formulas

    def copy(self) -> Formulas:
        return Formulas(self._formulas, self._families)

    def configured(self, **options: Any) -> Formulas:
        """A copy whose formulas that declare a keyword-only option (``def f(event, *, causal="full")``)
        have it bound to the value given; formulas that do not declare it are unchanged. This is how
        an analysis option (such as the causal-attention convention) reaches pure formulas without
        any global state."""
        formulas = self.copy()
        for name, formula in formulas._formulas.items():
            parameters = _keyword_options(formula)
            bound = {key: value for key, value in options.items() if key in parameters}
            if bound:
                formulas._formulas[name] = functools.update_wrapper(functools.partial(formula, **bound), formula)
        return formulas

    def family(self, name: str) -> str:
        """The op family a formula belongs to; "user" for one registered through ``register``."""
        return self._families.get(name, "uncounted")

    def register(self, *ops: Any, replace: bool = False) -> Callable[[Formula], Formula]:
        """Decorator: ``@formulas.register("mylib::fused_op")`` on ``def f(event) -> Cost``."""
        names = [op_name(op) for op in ops]
        if not names:
            raise ValueError("register() needs at least one op name")

        def decorator(formula: Formula) -> Formula:
            for name in names:
                if name in self._formulas and not replace:
                    raise ValueError(f"{name} already has a formula ({self._formulas[name].__qualname__}); pass replace=True to replace it")
            for name in names:
                self._formulas[name] = formula
                self._families[name] = "user"
            return formula

        return decorator

    def get(self, name: str) -> Formula | None:
        return self._formulas.get(name)

    def __contains__(self, op: Any) -> bool:
        return op_name(op) in self._formulas

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._formulas))

    def __len__(self) -> int:
        return len(self._formulas)


def _keyword_options(formula: Formula) -> frozenset[str]:
    try:
        return _cached_keyword_options(formula)
    except TypeError:  # an unhashable callable
        return _cached_keyword_options.__wrapped__(formula)


@functools.lru_cache(maxsize=4096)  # a formula's signature does not change, and every analysis asks
def _cached_keyword_options(formula: Formula) -> frozenset[str]:
    try:
        signature = inspect.signature(formula)
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY)


def io_bytes(event: OpEvent) -> tuple[int, int]:
    """The default traffic: every input tensor read once, every output written once."""
    return sum(t.nbytes for t in event.inputs), sum(t.nbytes for t in event.outputs)


def with_io(event: OpEvent, macs: int = 0, flops: int = 0) -> Cost:
    bytes_read, bytes_written = io_bytes(event)
    return Cost(macs, flops, bytes_read, bytes_written)


class Family:
    """The formulas of one op family, declared by decorator in that family's module."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.formulas: dict[str, Formula] = {}

    def __call__(self, *ops: str) -> Callable[[Formula], Formula]:
        def decorator(formula: Formula) -> Formula:
            self.add(ops, formula)
            return formula

        return decorator

    def add(self, ops: Iterable[str], formula: Formula) -> None:
        for op in ops:
            name = op_name(op)
            if name in self.formulas:
                raise ValueError(f"{name} is declared twice in the {self.name} family")
            self.formulas[name] = formula
