"""timm's models by name (``timm:NAME``), built without pretrained weights."""

from __future__ import annotations

import difflib

from roofscope.extras import require
from roofscope.models.spec import ModelSpecError, ResolvedModel

__all__ = ["from_timm"]


def from_timm(name: str) -> ResolvedModel:
    timm = require("timm", f"timm:{name}")
    if name not in timm.list_models():
        close = difflib.get_close_matches(name, timm.list_models(), n=4, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ModelSpecError(f"unknown timm model {name!r}.{hint}")
    model = timm.create_model(name, pretrained=False).eval()
    size = model.pretrained_cfg.get("input_size", (3, 224, 224)) if hasattr(model, "pretrained_cfg") else (3, 224, 224)
    return ResolvedModel(f"timm:{name}", model, (1, *size))
