"""The command line: ``roofscope MODEL [options]`` (``cli/analyze.py``) and its subcommands, one
file each, named in ``SUBCOMMANDS``; ``cli/options.py`` holds what they share.

``main`` hides the import-time warnings of the libraries roofscope runs on (torch without NumPy,
deprecations inside torchvision or transformers), and transformers' own log below errors (a
fallback kernel it would use on a GPU): a command-line user did not write the code that triggers
them and cannot act on them. ``python -W ...`` or ``PYTHONWARNINGS`` shows the warnings again,
``TRANSFORMERS_VERBOSITY=info`` the log.
Nothing heavy is imported before that, so this module imports only the standard library.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

__all__ = ["SUBCOMMANDS", "main"]

#: ``roofscope NAME ...``: the module whose ``run(argv) -> exit status`` takes the arguments after NAME.
SUBCOMMANDS = {
    "compare": "roofscope.cli.compare",
    "sweep": "roofscope.cli.sweep",
    "probe": "roofscope.cli.probe",
    "presets": "roofscope.cli.presets",
}

#: Warnings attributed to these packages are not shown on the command line.
QUIET_PACKAGES = r"(torch|torchvision|transformers|timm|matplotlib|numpy|huggingface_hub|safetensors)(\..*)?$"


def main(argv: list[str] | None = None) -> int:
    """Run ``roofscope`` with ``argv`` (default: the process's arguments); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    with warnings.catch_warnings():
        if not sys.warnoptions:
            warnings.filterwarnings("ignore", module=QUIET_PACKAGES)
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        command = SUBCOMMANDS.get(argv[0], "roofscope.cli.analyze") if argv else "roofscope.cli.analyze"
        rest = argv[1:] if argv and argv[0] in SUBCOMMANDS else argv
        return int(importlib.import_module(command).run(rest))
