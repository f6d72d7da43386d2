"""Resolve a model named on the command line, and the inputs it takes by default.

Forms: a built-in example (``seed-conv``), a torchvision classification model (``resnet50`` or
``torchvision:resnet50``). Weights are never downloaded: models are built with random weights.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

import torch

from roofscope.examples import EXAMPLES


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


def resolve(spec: str) -> ResolvedModel:
    if spec in EXAMPLES:
        factory, shapes = EXAMPLES[spec]
        return ResolvedModel(spec, factory().eval(), shapes)
    name = spec.removeprefix("torchvision:")
    names = _torchvision_names()
    if name in names:
        from torchvision.models import get_model

        options: dict[str, Any] = {"weights": None}
        if name in ("inception_v3", "googlenet"):
            options["init_weights"] = False  # scipy-based truncated-normal init is slow and unneeded
        return ResolvedModel(name, get_model(name, **options).eval(), _torchvision_input(name))
    candidates = list(EXAMPLES) + names
    close = difflib.get_close_matches(name, candidates, n=4, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    if not names:
        hint += " (torchvision is not installed, so only the built-in examples are known.)"
    raise ModelSpecError(f"unknown model {spec!r}.{hint}")
