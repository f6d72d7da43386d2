"""torchvision's models by name, built without weights, with the input size their weights were trained at."""

from __future__ import annotations

__all__ = ["torchvision_input", "torchvision_names"]


def torchvision_names() -> list[str]:
    try:
        from torchvision.models import list_models
    except ImportError:
        return []
    return sorted(list_models())


def torchvision_input(name: str) -> tuple[int, ...]:
    from torchvision.models import get_model_weights

    try:
        crop = get_model_weights(name).DEFAULT.transforms().crop_size[0]
    except (ValueError, AttributeError, IndexError):
        crop = 224
    return (1, 3, crop, crop)
