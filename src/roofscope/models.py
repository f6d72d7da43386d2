"""Resolve a model named on the command line, and the inputs it takes by default.

Forms:
- a built-in example (``seed-conv``);
- a transformer preset (``llama-2-7b``, see ``roofscope.llm.presets``) or a local Hugging Face
  ``config.json`` path, built on the meta device;
- a torchvision model (``resnet50`` or ``torchvision:resnet50``);
- a timm model (``timm:resnet50``), when timm is installed;
- ``package.module:factory``: a function called with no arguments, or an ``nn.Module`` class;
- ``path/to/file.py:ClassOrFactory``: the same, from a Python file;
- ``path/to/model.pt2``: a program saved by ``torch.export.save`` (its example inputs by default).

Weights are never downloaded: models are built with random weights. A model object (or its
class, or the factory) may say which inputs it takes with an ``example_inputs`` attribute (a shape,
a tuple of shapes, or a callable returning one); otherwise the caller must give inputs.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch

from roofscope.examples import EXAMPLES
from roofscope.inputs import TensorSpec, replace_dims


class ModelSpecError(ValueError):
    """The model name cannot be resolved; the message lists the closest names."""


@dataclasses.dataclass
class ResolvedModel:
    name: str
    model: torch.nn.Module
    inputs: Any
    preset: Any = None  # the roofscope.llm.presets.Preset of a transformer preset or config.json


def _torchvision_names() -> list[str]:
    try:
        from torchvision.models import list_models
    except ImportError:
        return []
    return sorted(list_models())


def _torchvision_input(name: str) -> tuple[int, ...]:
    from torchvision.models import get_model_weights

    try:
        crop = get_model_weights(name).DEFAULT.transforms().crop_size[0]
    except (ValueError, AttributeError, IndexError):
        crop = 224
    return (1, 3, crop, crop)


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


def _from_file(path_text: str, attribute: str, spec: str) -> ResolvedModel:
    path = Path(path_text)
    if not path.is_file():
        raise ModelSpecError(f"no such file: {path_text}")
    name = f"_roofscope_user_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ModelSpecError(f"cannot import {path_text} as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    model, inputs = _build(_attribute(module, attribute, path_text), spec)
    return ResolvedModel(f"{path.stem}:{attribute}", model.eval(), inputs)


def _from_module(module_name: str, attribute: str, spec: str) -> ResolvedModel:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelSpecError(f"cannot import {module_name!r} for {spec!r}: {error}") from None
    model, inputs = _build(_attribute(module, attribute, f"module {module_name!r}"), spec)
    return ResolvedModel(attribute.rsplit(".", 1)[-1], model.eval(), inputs)


def _from_export(path_text: str) -> ResolvedModel:
    path = Path(path_text)
    if not path.is_file():
        raise ModelSpecError(f"no such file: {path_text}")
    try:
        program = torch.export.load(str(path))
    except Exception as error:  # noqa: BLE001 - any failure to read the archive is the user's to fix
        raise ModelSpecError(f"cannot load {path_text} with torch.export.load: {error}") from None
    inputs = None
    example = getattr(program, "example_inputs", None)
    if example is not None:
        args, kwargs = example
        inputs = dict(kwargs) if kwargs and not args else list(args)
    return ResolvedModel(path.stem, program.module(), inputs)


def _from_timm(name: str) -> ResolvedModel:
    try:
        import timm
    except ImportError:
        raise ModelSpecError(f"timm:{name} needs timm, which is not installed (pip install timm)") from None
    if name not in timm.list_models():
        close = difflib.get_close_matches(name, timm.list_models(), n=4, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ModelSpecError(f"unknown timm model {name!r}.{hint}")
    model = timm.create_model(name, pretrained=False).eval()
    size = model.pretrained_cfg.get("input_size", (3, 224, 224)) if hasattr(model, "pretrained_cfg") else (3, 224, 224)
    return ResolvedModel(f"timm:{name}", model, (1, *size))


def _transformer(spec: str, batch: int | None, seq_len: int | None) -> ResolvedModel | None:
    from roofscope.llm.presets import build, is_config_path, lookup, preset_from_config_file

    preset = lookup(spec)
    if preset is None and is_config_path(spec):
        preset = preset_from_config_file(spec)
    if preset is None:
        return None
    model = build(preset)
    batch = batch or 1
    if preset.head == "image-classification":
        size = int(getattr(model.config, "image_size", 224))
        return ResolvedModel(spec, model, {"pixel_values": TensorSpec((batch, 3, size, size), preset.dtype)}, preset)
    if seq_len is None:
        seq_len = min(int(getattr(model.config, "max_position_embeddings", 0) or 512), 2048)
    vocab = int(getattr(model.config, "vocab_size", 2))
    inputs: dict[str, Any] = {"input_ids": TensorSpec((batch, seq_len), torch.long, 0, vocab)}
    if preset.head == "causal-lm":
        inputs["use_cache"] = True  # the prompt's keys and values are kept, as in generation (prefill)
    return ResolvedModel(spec, model, inputs, preset)


def resolve(spec: str, *, batch: int | None = None, seq_len: int | None = None) -> ResolvedModel:
    """The model named ``spec`` and its default inputs. ``batch`` sizes the inputs of any named model
    (the first dimension); ``seq_len`` the token count of a transformer preset."""
    transformer = _transformer(spec, batch, seq_len)
    if transformer is not None:
        return transformer
    if seq_len is not None:
        raise ModelSpecError(f"seq_len sizes the inputs of a transformer preset or config.json; {spec!r} is neither")
    resolved = _resolve_module(spec)
    if batch is not None and resolved.inputs is not None:
        resolved.inputs = replace_dims(resolved.inputs, batch=batch)
    return resolved


def _resolve_module(spec: str) -> ResolvedModel:
    if spec in EXAMPLES:
        factory, shapes = EXAMPLES[spec]
        return ResolvedModel(spec, factory().eval(), shapes)
    if spec.startswith("timm:"):
        return _from_timm(spec.removeprefix("timm:"))
    if spec.endswith(".pt2"):
        return _from_export(spec)
    if not spec.startswith("torchvision:") and ":" in spec:
        target, _, attribute = spec.rpartition(":")
        if not attribute:
            raise ModelSpecError(f"{spec!r}: name the class or factory after the colon, e.g. models.py:MyNet")
        if target.endswith(".py"):
            return _from_file(target, attribute, spec)
        return _from_module(target, attribute, spec)
    name = spec.removeprefix("torchvision:")
    names = _torchvision_names()
    if name in names:
        from torchvision.models import get_model

        options: dict[str, Any] = {"weights": None}
        if name in ("inception_v3", "googlenet"):
            options["init_weights"] = False  # scipy-based truncated-normal init is slow and unneeded
        return ResolvedModel(name, get_model(name, **options).eval(), _torchvision_input(name))
    from roofscope.llm.presets import preset_names

    candidates = list(EXAMPLES) + preset_names() + names
    close = difflib.get_close_matches(name, candidates, n=4, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    if not names:
        hint += " (torchvision is not installed, so only the built-in examples are known.)"
    hint += " Other forms: timm:NAME, package.module:factory, file.py:Class, model.pt2."
    raise ModelSpecError(f"unknown model {spec!r}.{hint}")
