"""A model from Python code: ``package.module:factory`` and ``path/to/file.py:ClassOrFactory``.

A class or factory (or the model it builds) may declare its inputs with ``example_inputs``.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch

from roofscope.models.examples import EXAMPLES
from roofscope.models.spec import ModelSpecError, ResolvedModel

__all__ = ["error_text", "from_file", "from_module"]


def _default_inputs(*owners: Any) -> Any:
    """Inputs declared by a model, its class or its factory (``example_inputs``), else a built-in
    example's shapes when the class is one of them, else None."""
    for owner in owners:
        value = getattr(owner, "example_inputs", None)
        if value is not None:
            return value() if callable(value) else value
    for factory, shapes in EXAMPLES.values():
        if any(owner is factory for owner in owners):
            return shapes
    return None


def _build(target: Any, spec: str) -> tuple[torch.nn.Module, Any]:
    if isinstance(target, torch.nn.Module):
        return target, _default_inputs(target)
    if not callable(target):
        raise ModelSpecError(f"{spec!r} names a {type(target).__name__}, not an nn.Module, a class or a factory")
    try:
        model = target()
    except TypeError as error:
        raise ModelSpecError(f"{spec!r} could not be called with no arguments: {error}") from None
    except Exception as error:
        raise ModelSpecError(f"building {spec!r} failed: {type(error).__name__}: {error}") from None
    if not isinstance(model, torch.nn.Module):
        raise ModelSpecError(f"{spec!r} returned a {type(model).__name__}, not an nn.Module")
    return model, _default_inputs(model, target)


def _attribute(namespace: Any, attribute: str, where: str) -> Any:
    value = namespace
    for part in attribute.split("."):
        if not hasattr(value, part):
            names = [n for n in dir(namespace) if not n.startswith("_")]
            close = difflib.get_close_matches(attribute, names, n=4, cutoff=0.5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ModelSpecError(f"{where} has no attribute {attribute!r}.{hint}")
        value = getattr(value, part)
    return value


def from_file(path_text: str, attribute: str, spec: str) -> ResolvedModel:
    path = Path(path_text)
    if not path.is_file():
        raise ModelSpecError(f"no such file: {path_text}")
    name = f"_roofscope_user_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ModelSpecError(f"cannot import {path_text} as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        try:
            module_spec.loader.exec_module(module)
        except (Exception, SystemExit) as error:
            raise ModelSpecError(f"importing {path_text} failed: {error_text(error)}") from None
        model, inputs = _build(_attribute(module, attribute, path_text), spec)
    except ModelSpecError:
        sys.modules.pop(name, None)  # nothing of a failed import is left behind
        raise
    return ResolvedModel(f"{path.stem}:{attribute}", model.eval(), inputs)


def from_module(module_name: str, attribute: str, spec: str) -> ResolvedModel:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelSpecError(f"cannot import {module_name!r} for {spec!r}: {error}") from None
    except (Exception, SystemExit) as error:
        raise ModelSpecError(f"importing {module_name!r} for {spec!r} failed: {error_text(error)}") from None
    model, inputs = _build(_attribute(module, attribute, f"module {module_name!r}"), spec)
    return ResolvedModel(attribute.rsplit(".", 1)[-1], model.eval(), inputs)


def error_text(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"it called sys.exit({error.code!r})"
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} (line {error.lineno})"
    return f"{type(error).__name__}: {error}"
