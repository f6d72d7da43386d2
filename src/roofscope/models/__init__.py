"""Resolve a model named on the command line, and the inputs it takes by default.

Forms:
- a built-in example (``seed-conv``);
- a transformer preset (``llama-2-7b``, see ``roofscope.models.presets``) or a local Hugging Face
  ``config.json`` path, built on the meta device;
- a torchvision model (``resnet50`` or ``torchvision:resnet50``);
- a timm model (``timm:resnet50``), when timm is installed;
- ``package.module:factory``: a function called with no arguments, or an ``nn.Module`` class;
- ``path/to/file.py:ClassOrFactory``: the same, from a Python file;
- ``path/to/model.pt2``: a program saved by ``torch.export.save`` (its example inputs by default).

A checkpoint (``.pt``, ``.pth``, ``.bin``, ``.ckpt``) is read with ``torch.load(weights_only=True)``
only, never with ``weights_only=False``: nothing in it is executed. It is refused with a message
saying what it holds and what to give instead, since it is either weights without the code that
defines the architecture (a state_dict), or a pickled module, which only arbitrary code could load.

Weights are never downloaded: models are built with random weights. A model object (or its
class, or the factory) may say which inputs it takes with an ``example_inputs`` attribute (a shape,
a tuple of shapes, or a callable returning one); otherwise the caller must give inputs.

The forms live in one module each: ``examples``, ``presets`` and ``transformers``, ``vision``,
``timm``, ``files`` (Python code), ``checkpoint`` (``.pt2`` and checkpoint files).
"""

from __future__ import annotations

import contextlib
import difflib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from roofscope.extras import MissingDependency
from roofscope.inputs import replace_dims
from roofscope.models.checkpoint import CHECKPOINT_SUFFIXES, from_checkpoint, from_export
from roofscope.models.examples import EXAMPLES
from roofscope.models.files import from_file, from_module
from roofscope.models.presets import preset_names
from roofscope.models.spec import ModelSpecError, RealTensorsWarning, ResolvedModel
from roofscope.models.timm import from_timm
from roofscope.models.transformers import from_transformer
from roofscope.models.vision import from_torchvision, torchvision_names

__all__ = ["ModelSpecError", "RealTensorsWarning", "ResolvedModel", "on_meta", "resolve", "resolve_on_meta"]


def on_meta(model: torch.nn.Module) -> bool:
    """Whether the model's weights are on the meta device (shapes and dtypes, no storage)."""
    return any(tensor.device.type == "meta" for tensor in (*model.parameters(), *model.buffers()))


def resolve(spec: str, *, batch: int | None = None, seq_len: int | None = None, meta: bool = False) -> ResolvedModel:
    """The model named ``spec`` and its default inputs. ``batch`` sizes the inputs of any named model
    (the first dimension); ``seq_len`` the token count of a transformer preset.

    ``meta=True``: built on the meta device, where no weight is allocated, which is all counting
    needs. A model whose constructor reads tensor values (``x.item()``, as some initialisations
    do) cannot be built there: it is built on the CPU instead, with a ``RealTensorsWarning`` that
    says why. ``.pt2`` programs are loaded as saved. Transformer presets are always built on meta.
    """
    if meta and not spec.endswith(".pt2"):
        try:
            with torch.device("meta"):
                return resolve(spec, batch=batch, seq_len=seq_len)
        except (ModelSpecError, MissingDependency):  # the CPU would fail the same way
            raise
        except Exception as error:
            warnings.warn(
                RealTensorsWarning(
                    f"{spec} cannot be built on the meta device ({type(error).__name__}: {_first_line(error)}): "
                    "built on the CPU with random weights instead"
                ),
                stacklevel=2,
            )
    transformer = from_transformer(spec, batch, seq_len)
    if transformer is not None:
        return transformer
    if seq_len is not None:
        raise ModelSpecError(f"seq_len sizes the inputs of a transformer preset or config.json; {spec!r} is neither")
    resolved = _resolve_module(spec)
    if batch is not None and resolved.inputs is not None:
        resolved.inputs = replace_dims(resolved.inputs, batch=batch)
    return resolved


def resolve_on_meta(spec: str, *, batch: int | None = None, seq_len: int | None = None) -> ResolvedModel:
    """``resolve``, with the model built on the meta device, where no weight is allocated: under
    ``torch.device("meta")``, or, for a model whose constructor computes with tensors it makes
    (regnet's block widths), on the CPU with every parameter and buffer moved to meta as it is
    registered. A ``ModelSpecError`` is raised as it is; any other error of both builds is the
    second build's."""
    import torch

    try:
        with torch.device("meta"):
            return resolve(spec, batch=batch, seq_len=seq_len)
    except ModelSpecError:
        raise
    except Exception:
        with _registered_on_meta():
            return resolve(spec, batch=batch, seq_len=seq_len)


@contextlib.contextmanager
def _registered_on_meta() -> Iterator[None]:
    import torch
    from torch.nn.modules.module import register_module_buffer_registration_hook, register_module_parameter_registration_hook

    def parameter(module: torch.nn.Module, name: str, value: Any) -> Any:
        return torch.nn.Parameter(value.to("meta"), requires_grad=value.requires_grad) if value is not None else None

    def buffer(module: torch.nn.Module, name: str, value: Any) -> Any:
        return value.to("meta") if value is not None else None

    handles = [register_module_parameter_registration_hook(parameter), register_module_buffer_registration_hook(buffer)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _resolve_module(spec: str) -> ResolvedModel:
    if spec in EXAMPLES:
        factory, shapes = EXAMPLES[spec]
        return ResolvedModel(spec, factory().eval(), shapes)
    if spec.startswith("timm:"):
        return from_timm(spec.removeprefix("timm:"))
    if spec.endswith(".pt2"):
        return from_export(spec)
    if spec.lower().endswith(CHECKPOINT_SUFFIXES):
        from_checkpoint(spec)
    if not spec.startswith("torchvision:") and ":" in spec:
        target, _, attribute = spec.rpartition(":")
        if not attribute:
            raise ModelSpecError(f"{spec!r}: name the class or factory after the colon, e.g. models.py:MyNet")
        if target.endswith(".py"):
            return from_file(target, attribute, spec)
        return from_module(target, attribute, spec)
    name = spec.removeprefix("torchvision:")
    names = torchvision_names()
    if name in names:
        return from_torchvision(name)
    candidates = list(EXAMPLES) + preset_names() + names
    close = difflib.get_close_matches(name, candidates, n=4, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    if not names:
        hint += " torchvision is not installed, so its models are unknown: pip install 'roofscope[vision]'."
    hint += " Other forms: timm:NAME, package.module:factory, file.py:Class, model.pt2."
    if spec.endswith(".py") and Path(spec).is_file():
        hint = f" Name the class or factory in it after a colon: {spec}:ClassName.{hint}"
    elif Path(spec).is_file():
        hint = (
            f" It is a file, but none roofscope reads (file.py:Class, model.pt2, a config.json, or a .pt/.pth/.bin/.ckpt checkpoint).{hint}"
        )
    raise ModelSpecError(f"unknown model {spec!r}.{hint}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no message"
