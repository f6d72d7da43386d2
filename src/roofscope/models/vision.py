"""torchvision's models by name, built without weights and without touching the network, with the
inputs each kind of model takes at the size its weights were trained at.

Every builder gets ``weights=None`` and, where it takes one, ``weights_backbone=None``: detection and
segmentation builders otherwise download ImageNet weights for their backbone. Default inputs follow
the kind of task the model's published weights name (their ``transforms()``):
- image classification: one image, (1, 3, S, S), S the model's own image size where it has one (a
  vision transformer built without weights is 224 px even where its default weights are 518 px),
  else the crop size of its weights;
- video classification: one clip of 16 frames, (1, 3, 16, H, W), as torchvision's video weights
  were trained and evaluated;
- semantic segmentation: one image at the weights' resize size, (1, 3, 520, 520);
- object detection, instance segmentation and keypoints: a list of one image, [(3, 800, 800)] (the
  detection transform resizes to its own min_size inside the model);
- optical flow: two images, (1, 3, 520, 960) each (RAFT needs sizes divisible by 8).
"""

from __future__ import annotations

import inspect
from typing import Any

from roofscope.models.spec import ResolvedModel

__all__ = ["VIDEO_FRAMES", "from_torchvision", "torchvision_input", "torchvision_names"]

#: Frames of a video model's default clip.
VIDEO_FRAMES = 16
_DETECTION_IMAGE = (3, 800, 800)
_FLOW_IMAGE = (1, 3, 520, 960)


def torchvision_names() -> list[str]:
    try:
        from torchvision.models import list_models
    except ImportError:
        return []
    return sorted(list_models())


def _build_options(name: str) -> dict[str, Any]:
    from torchvision.models import get_model_builder

    parameters = inspect.signature(get_model_builder(name)).parameters
    options: dict[str, Any] = {"weights": None}
    if "weights_backbone" in parameters:
        options["weights_backbone"] = None
    if "googlenet" in name or "inception_v3" in name:
        options["init_weights"] = False  # scipy-based truncated-normal init is slow and unneeded
    return options


def from_torchvision(name: str) -> ResolvedModel:
    """The torchvision model ``name`` with random weights, in eval mode, and its default inputs.
    It is built on the default device (``with torch.device("meta")`` builds it there)."""
    from torchvision.models import get_model

    model = get_model(name, **_build_options(name)).eval()
    return ResolvedModel(name, model, torchvision_input(name, model))


def _transforms(name: str) -> Any:
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(name).DEFAULT.transforms()
    except (ValueError, AttributeError):
        return None


def torchvision_input(name: str, model: Any = None) -> Any:
    """The default inputs of the torchvision model ``name`` (module docstring); ``model``, when
    given, says its own image size."""
    transforms = _transforms(name)
    kind = type(transforms).__name__
    if kind == "ObjectDetection":
        return [[_DETECTION_IMAGE]]
    if kind == "OpticalFlow":
        return [_FLOW_IMAGE, _FLOW_IMAGE]
    if kind == "VideoClassification":
        height, width = transforms.crop_size
        return (1, 3, VIDEO_FRAMES, height, width)
    if kind == "SemanticSegmentation":
        size = transforms.resize_size[0]
        return (1, 3, size, size)
    own = getattr(model, "image_size", None)
    if isinstance(own, int):
        return (1, 3, own, own)
    crop = transforms.crop_size[0] if transforms is not None and getattr(transforms, "crop_size", None) else 224
    return (1, 3, crop, crop)
