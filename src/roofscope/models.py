"""Resolve a model named on the command line, and the inputs it takes by default.

Forms: a built-in example (``seed-conv``), a transformer preset (``llama-2-7b``, see
``roofscope.llm.presets``) or a local Hugging Face ``config.json`` path (built on the meta device),
a torchvision classification model (``resnet50`` or ``torchvision:resnet50``). Weights are never downloaded: models are built with random weights.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

import torch

from roofscope.examples import EXAMPLES
from roofscope.inputs import TensorSpec


class ModelSpecError(ValueError):
    """The model name cannot be resolved; the message lists the closest names."""


@dataclasses.dataclass
class ResolvedModel:
    name: str
    model: torch.nn.Module
    inputs: Any


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
        return ResolvedModel(spec, model, {"pixel_values": TensorSpec((batch, 3, size, size), preset.dtype)})
    if seq_len is None:
        seq_len = min(int(getattr(model.config, "max_position_embeddings", 0) or 512), 2048)
    vocab = int(getattr(model.config, "vocab_size", 2))
    inputs: dict[str, Any] = {"input_ids": TensorSpec((batch, seq_len), torch.long, 0, vocab)}
    if preset.head == "causal-lm":
        inputs["use_cache"] = True  # the prompt's keys and values are kept, as in generation (prefill)
    return ResolvedModel(spec, model, inputs)


def resolve(spec: str, *, batch: int | None = None, seq_len: int | None = None) -> ResolvedModel:
    """The model named ``spec`` and its default inputs; ``batch``/``seq_len`` size transformer inputs."""
    if spec in EXAMPLES:
        factory, shapes = EXAMPLES[spec]
        return ResolvedModel(spec, factory().eval(), shapes)
    transformer = _transformer(spec, batch, seq_len)
    if transformer is not None:
        return transformer
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
    raise ModelSpecError(f"unknown model {spec!r}.{hint}")
