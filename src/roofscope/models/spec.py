"""What resolving a model spec gives, and the error when it cannot."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

__all__ = ["ModelSpecError", "ResolvedModel"]


class ModelSpecError(ValueError):
    """The model name cannot be resolved; the message lists the closest names."""


@dataclasses.dataclass
class ResolvedModel:
    name: str
    model: torch.nn.Module
    inputs: Any
    preset: Any = None  # the roofscope.models.presets.Preset of a transformer preset or config.json
