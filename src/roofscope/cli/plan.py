"""``roofscope plan``: the layout (TP x PP, EP for a mixture of experts) that serves a model on the
fewest GPUs within a time per output token; the work is ``roofscope.llm.plan``'s."""

from __future__ import annotations

import argparse
import json
import re
import sys

from roofscope.cli.options import USER_ERRORS, Parser, error_console, output_console, positive_int, print_error

__all__ = ["EXAMPLES", "duration", "run"]

EXAMPLES = """examples:
  roofscope plan llama-2-70b --device h100 --dtype bf16 --seq 2048 --max-tpot 30ms
                                           the fewest H100s that hold llama-2-70b in bf16 and give
                                           a token every 30 ms or faster, and the candidates weighed
  roofscope plan llama-3.1-8b --device a100 --dtype fp16 --seq 4096 --batch 16 --max-tpot 20ms
  roofscope plan llama-2-70b --device h100 --dtype bf16 --max-tpot 50ms --json
"""

_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|ms|us)?\s*$")


def duration(text: str) -> float:
    """A time in seconds from "30ms", "0.03s", "30000us" or a bare number of milliseconds."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive time such as 30ms, 0.03s or 30000us, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2) or "ms"]


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="roofscope plan",
        description="The parallel layout that serves a causal LM on the fewest GPUs: memory per GPU within the device's "
        "capacity and a time per output token within --max-tpot (docs/conventions.md, Parallelism).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a causal LM preset, config.json or hub id, as for roofscope MODEL")
    parser.add_argument("--device", required=True, help="a catalog device with interconnect figures (h100, h200, a100, ...)")
    parser.add_argument("--dtype", help="the precision, as for roofscope MODEL (default: the checkpoint's)")
    parser.add_argument("--seq", type=positive_int, default=2048, metavar="TOKENS", help="the prompt's tokens (default 2048)")
    parser.add_argument(
        "--decode-context", type=positive_int, metavar="TOKENS", help="the cached tokens at the decode step (default: --seq)"
    )
    parser.add_argument("--batch", type=positive_int, default=1, help="sequences served together by one replica (default 1)")
    parser.add_argument("--max-tpot", type=duration, required=True, metavar="TIME", help="the longest time per output token, e.g. 30ms")
    parser.add_argument("--max-gpus", type=positive_int, default=64, metavar="N", help="the most GPUs a layout may take (default 64)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    args = parser.parse_args(argv)
    errors = error_console()
    try:
        from roofscope.llm import LLM
        from roofscope.llm.plan import plan
        from roofscope.render.llm import plan_table

        with errors.status(f"planning {args.model} ..."):
            llm = LLM(args.model, device=args.device, dtype=args.dtype)
            result = plan(
                llm, max_tpot=args.max_tpot, batch=args.batch, seq_len=args.seq, context=args.decode_context, max_gpus=args.max_gpus
            )
    except USER_ERRORS as error:
        print_error(errors, "roofscope plan", error)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        output_console().print(plan_table(result))
    if result.chosen is None:
        print_error(errors, "roofscope plan", result.reason)
        return 2
    return 0
