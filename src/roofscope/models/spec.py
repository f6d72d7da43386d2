"""What resolving a model spec gives, and the error when it cannot."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

__all__ = ["ModelSpecError", "RealTensorsWarning", "ResolvedModel"]


class ModelSpecError(ValueError):
    """The model name cannot be resolved; the message lists the closest names."""


class RealTensorsWarning(UserWarning):
    """A named model that is counted on the meta device by default had to be built, or run, with
    real tensors on the CPU instead (its code reads values the meta device does not hold); the
    counts are the same, only slower to get and with its weights in memory."""


@dataclasses.dataclass
class ResolvedModel:
    name: str
    model: torch.nn.Module
    inputs: Any
    preset: Any = None  # the roofscope.models.presets.Preset of a transformer preset or config.json
