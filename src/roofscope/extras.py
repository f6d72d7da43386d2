"""Optional dependencies: torchvision, transformers, timm and matplotlib are extras of the package.

``require`` imports one, or says in one line which extra installs it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "MissingDependency", "require"]

#: The extra of ``pip install 'roofscope[EXTRA]'`` that installs each optional package.
EXTRAS = {"torchvision": "vision", "transformers": "transformers", "timm": "timm", "matplotlib": "plot"}


class MissingDependency(ImportError):
    """An optional package that a request needs is not installed; the message names the extra."""


def require(package: str, purpose: str) -> ModuleType:
    """``import package``, or a MissingDependency saying that ``purpose`` needs it and how to install it."""
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as error:
        if error.name != package:
            raise  # the package is there but something it imports is not: its own error says what
        raise MissingDependency(f"{purpose} needs {package}, which is not installed: pip install 'roofscope[{EXTRAS[package]}]'") from None
