"""``roofscope train``: the predicted time of one training step of a causal LM on a parallel
layout; the work is ``LLM.training_step_time``'s (docs/conventions.md, "Parallelism")."""

from __future__ import annotations

import argparse
import json
import sys

from roofscope.cli.options import USER_ERRORS, Parser, count, error_console, output_console, positive_int, print_error

__all__ = ["EXAMPLES", "run"]

EXAMPLES = """examples:
  roofscope train gpt2 --device a100 --dtype fp16 --seq 256 --batch 512 --micro-batch 8 --dp 64
                                           one step of 512 sequences over 64 A100s: the forward,
                                           backward, gradient all-reduce and Adam, term by term
  roofscope train gpt2-medium --device h100 --dtype bf16 --seq 256 --batch 64 --micro-batch 2 --tp 2 --pp 4 --recompute
                                           tensor and pipeline parallel, the 1F1B bubble shown
  roofscope train gpt2 --device a100 --dtype fp16 --seq 256 --batch 64 --micro-batch 8 --dp 8 --zero 1 --json
"""


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="roofscope train",
        description="The predicted time of one training step of a causal LM on TP x PP x DP GPUs: each op's kernel time "
        "on the device, the collectives on its interconnect, the 1F1B bubble and the optimizer step "
        "(docs/conventions.md, Parallelism).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a causal LM preset, config.json or hub id, as for roofscope MODEL")
    parser.add_argument("--device", required=True, help="a catalog device (with interconnect figures for more than one GPU)")
    parser.add_argument("--dtype", help="the training precision, as for roofscope MODEL (default: the checkpoint's)")
    parser.add_argument("--seq", type=positive_int, default=2048, metavar="TOKENS", help="tokens per sequence (default 2048)")
    parser.add_argument("--batch", type=positive_int, required=True, help="the global batch: sequences per step over all replicas")
    parser.add_argument("--micro-batch", type=positive_int, default=1, metavar="N", help="sequences per micro-batch (default 1)")
    for flag, what in (("--tp", "tensor parallel GPUs"), ("--pp", "pipeline stages"), ("--dp", "data parallel replicas")):
        parser.add_argument(flag, type=positive_int, default=1, metavar="N", help=f"{what} (default 1)")
    parser.add_argument(
        "--nodes", type=positive_int, metavar="N", help="the servers the GPUs are spread over (default: as few as hold them)"
    )
    parser.add_argument(
        "--recompute", action="store_true", help="full activation recomputation: each forward runs again before its backward"
    )
    parser.add_argument(
        "--interleave", type=positive_int, default=1, metavar="V", help="model chunks per GPU (interleaved 1F1B; default 1)"
    )
    parser.add_argument(
        "--zero", type=count, default=0, choices=range(4), metavar="STAGE", help="ZeRO stage 0-3 of the optimizer state over DP (default 0)"
    )
    parser.add_argument(
        "--overlap-dp", action="store_true", help="the gradient all-reduce runs under the last backward (PyTorch DDP) rather than after it"
    )
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")
    args = parser.parse_args(argv)
    errors = error_console()
    try:
        from roofscope.llm import LLM
        from roofscope.render.llm import training_step_table

        layout = {"tp": args.tp, "pp": args.pp, "dp": args.dp, "nodes": args.nodes or 0}
        with errors.status(f"counting a training step of {args.model} ..."):
            llm = LLM(args.model, device=args.device, dtype=args.dtype, **layout)
            estimate = llm.training_step_time(
                args.batch,
                args.micro_batch,
                args.seq,
                recompute=args.recompute,
                overlap_dp=args.overlap_dp,
                interleave=args.interleave,
                zero=args.zero,
            )
    except USER_ERRORS as error:
        print_error(errors, "roofscope train", error)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(estimate.to_dict(), indent=2) + "\n")
        return 0
    output_console().print(training_step_table(estimate))
    return 0
