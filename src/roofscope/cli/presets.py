"""``roofscope presets``: the built-in transformer presets, with their parameters."""

from __future__ import annotations

import argparse
import json
import sys

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from roofscope.cli.options import USER_ERRORS, error_console, output_console, print_error

__all__ = ["run"]

EXAMPLES = """examples:
  roofscope presets                        every preset: model type, published dtype, parameters, source
  roofscope presets --json                 the same as JSON
  roofscope deepseek-v3 --seq 2048 --device h200 --dtype bf16
                                           one of them, with its serving summary
"""


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="roofscope presets",
        description="The built-in transformer presets: published config.json numbers, built on the meta device (no download).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--exact", action="store_true", help="exact integers instead of K/M/G units")
    parser.add_argument("--json", action="store_true", help="print the presets as JSON")
    args = parser.parse_args(argv)
    errors = error_console()
    try:
        from roofscope.llm import preset_names, preset_summaries
        from roofscope.render.llm import presets_table

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=errors, transient=True) as progress:
            task = progress.add_task("building the presets on meta", total=len(preset_names()))
            presets = preset_summaries(lambda _: progress.advance(task))
    except USER_ERRORS as error:
        print_error(errors, "roofscope presets", error)
        return 2
    if args.json:
        sys.stdout.write(json.dumps([preset.to_dict() for preset in presets], indent=2) + "\n")
    else:
        output_console().print(presets_table(presets, exact=args.exact))
    return 0
