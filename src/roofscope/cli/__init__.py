"""The command line: ``roofscope MODEL [options]`` and its subcommands.

``main`` hides the import-time warnings of the libraries roofscope runs on (torch without NumPy,
deprecations inside torchvision or transformers): a command-line user did not write the code that
triggers them and cannot act on them. ``python -W ...`` or ``PYTHONWARNINGS`` shows them again.
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["main"]

#: Warnings attributed to these packages are not shown on the command line.
QUIET_PACKAGES = r"(torch|torchvision|transformers|timm|matplotlib|numpy|huggingface_hub|safetensors)(\..*)?$"


def main(argv: list[str] | None = None) -> int:
    """Run ``roofscope`` with ``argv`` (default: the process's arguments); returns the exit status."""
    with warnings.catch_warnings():
        if not sys.warnoptions:
            warnings.filterwarnings("ignore", module=QUIET_PACKAGES)
        from roofscope.cli.app import run

        return run(argv)
