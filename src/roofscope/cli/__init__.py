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

__all__ = ["INTERRUPTED", "SUBCOMMANDS", "main"]

#: ``roofscope NAME ...``: the module whose ``run(argv) -> exit status`` takes the arguments after NAME.
SUBCOMMANDS = {
    "compare": "roofscope.cli.compare",
    "sweep": "roofscope.cli.sweep",
    "probe": "roofscope.cli.probe",
    "presets": "roofscope.cli.presets",
    "plan": "roofscope.cli.plan",
    "train": "roofscope.cli.train",
}

#: Warnings attributed to these packages are not shown on the command line.
QUIET_PACKAGES = r"(torch|torchvision|transformers|timm|matplotlib|numpy|huggingface_hub|safetensors)(\..*)?$"


#: The exit status of a command stopped with Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    """Run ``roofscope`` with ``argv`` (default: the process's arguments); returns the exit status:
    0, 2 for a request that cannot be done (one line on stderr says why), 130 after Ctrl-C (one
    line, not a traceback)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == ["--version"]:  # answered before the command's module (and torch) is imported
        from roofscope import __version__

        sys.stdout.write(f"roofscope {__version__}\n")
        return 0
    name = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    try:
        with warnings.catch_warnings():
            if not sys.warnoptions:
                warnings.filterwarnings("ignore", module=QUIET_PACKAGES)
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            command = SUBCOMMANDS[name] if name else "roofscope.cli.analyze"
            return int(importlib.import_module(command).run(argv[1:] if name else argv))
    except SystemExit as stop:  # argparse's --help and its one-line errors
        return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
    except KeyboardInterrupt:
        sys.stderr.write(f"roofscope{' ' + name if name else ''}: interrupted\n")
        return INTERRUPTED
