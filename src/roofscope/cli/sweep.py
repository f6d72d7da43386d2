"""``roofscope sweep``: one model over batch sizes, image sizes or sequence lengths."""

from __future__ import annotations

import argparse

from roofscope.cli.options import Parser, shape
from roofscope.cli.rows import RowsJob, add_row_options, is_generative, run_rows, run_serving
from roofscope.sweep import parse_values, run_sweep

__all__ = ["EXAMPLES", "run"]

EXAMPLES = """examples:
  roofscope sweep resnet50 --batch 1,2,4,...,256 --device h100 --dtype bf16 --plot sweep.png
  roofscope sweep resnet50 --size 128,160,...,320 --device a100
  roofscope sweep gpt2 --seq 128,256,...,1024 --device h100 --format csv -o gpt2-seq.csv
  roofscope sweep seed-linear --input 1,10 --batch 1,8,64
  roofscope sweep llama-3.1-8b --batch 1,4,...,256 --prompt 2048 --device h100 --dtype bf16
                                           a causal LM: time to first token, time per output token,
                                           tokens/s, KV cache and memory per batch, the largest batch
  ("1,2,4,...,256" doubles; "128,160,...,320" steps by 32: two values whose ratio is not whole are a step)
"""


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="roofscope sweep",
        description="One model over a series of batch sizes, image sizes or sequence lengths, analysed on the meta device.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a model name, as for roofscope MODEL")
    axis = parser.add_mutually_exclusive_group()
    axis.add_argument("--batch", metavar="VALUES", help="batch sizes, e.g. 1,2,4,...,256 (the default)")
    axis.add_argument("--size", metavar="VALUES", help="image sizes (the last two dimensions of 4-D inputs), e.g. 128,160,...,320")
    axis.add_argument("--seq", metavar="VALUES", help="sequence lengths (dimension 1 of the inputs), e.g. 128,256,...,4096")
    parser.add_argument("--input", action="append", type=shape, metavar="SHAPE", help="the base input shape(s), e.g. 1,128:int64")
    parser.add_argument("--plot", metavar="PATH", help="write the sweep chart (PNG or SVG by suffix; needs --device)")
    parser.add_argument("--prompt", type=int, metavar="TOKENS", help="a causal LM's batch sweep: the prompt's tokens (default 2048)")
    parser.add_argument(
        "--decode-context",
        type=int,
        metavar="TOKENS",
        help="a causal LM's batch sweep: the cached tokens at the decode step (default: --prompt)",
    )
    add_row_options(parser)
    args = parser.parse_args(argv)
    name = "size" if args.size else "seq" if args.seq else "batch"
    if name == "batch" and not args.input and not args.plot and is_generative(args.model):
        return run_serving("sweep", args, first="batch")
    if args.prompt is not None or args.decode_context is not None:
        return run_serving("sweep", args, first="batch")  # says why it cannot

    def plan(options: dict[str, object]) -> RowsJob:
        values = parse_values(args.size or args.seq or args.batch or "1,2,4,...,256")
        return (
            f"{args.model} over {name}",
            len(values),
            lambda advance: run_sweep(args.model, values, axis=name, inputs=args.input, progress=advance, **options),
        )

    return run_rows("sweep", args, plan, first=name)
