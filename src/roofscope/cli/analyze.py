"""``roofscope MODEL``: the main command. It resolves the model, analyses (or measures) it and
writes the report; the work is ``roofscope.analyze``'s, ``LLM``'s and ``measure``'s."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console

from roofscope import __version__
from roofscope.analysis import analyze_resolved
from roofscope.cli.options import (
    USER_ERRORS,
    Parser,
    add_counting_options,
    add_device_options,
    check_writable,
    count,
    device_options,
    given_inputs,
    notes_printed,
    output_console,
    positive_int,
    print_error,
    progress_bar,
    shape,
    write_text,
)
from roofscope.cli.options import error_console as make_error_console
from roofscope.devices import devices
from roofscope.extras import require
from roofscope.inputs import replace_dims
from roofscope.measurement.run import cast_for_run, measure
from roofscope.models import ResolvedModel, resolve
from roofscope.models.examples import EXAMPLES
from roofscope.models.transformers import GENERATIVE_HEADS
from roofscope.render.devices import devices_table
from roofscope.render.export import to_format, to_json
from roofscope.render.prediction import inductor_line
from roofscope.render.table import render_terminal
from roofscope.report import Report

if TYPE_CHECKING:
    from roofscope.llm import ServingSummary
    from roofscope.measurement.inductor import InductorBytes

__all__ = ["build_parser", "run"]

EXAMPLES_TEXT = """examples:
  roofscope seed-conv                      a small CNN worked out by hand, exact counts
  roofscope resnet50 --depth 1             a torchvision model with random weights
  roofscope resnet50 --input 8,3,224,224   a batch of 8
  roofscope vit_b_16 --exact --ops 20      exact integers, the 20 heaviest ops
  roofscope resnet50 --device h100 --dtype bf16 --plot roofline.png
                                           roofline on a catalog device, as if in bf16
  roofscope resnet50 --peak-tflops 100 --bandwidth-gbs 800
                                           roofline on your own device
  roofscope --devices                      list the device catalog
  roofscope resnet18 --batch 8 --format html -o report.html
                                           a self-contained HTML report (also json, csv, md)
  roofscope timm:resnet50                  the other model forms: torchvision:NAME, timm:NAME,
                                           package.module:factory, file.py:Class, model.pt2
  roofscope seed-attention --input 1,10,256 --input 1,10,256 --input 1,10,256
                                           three inputs (query, key, value)
  roofscope seed-linear --input 4,10:float64
                                           a dtype after the shape (1,128:int64 for token ids)
  roofscope llama-2-7b --seq 2048 --device a100-80gb --dtype fp16
                                           a transformer preset, built on the meta device, with
                                           its serving summary: KV cache, memory vs capacity,
                                           prefill latency, time per output token, tokens/s
  roofscope llama-2-70b --seq 512 --decode-context 4096 --device h200 --dtype fp8
                                           time per output token with 4096 tokens cached
  roofscope deepseek-v3 --seq 2048 --device h200 --dtype bf16 --weights int4 --kv fp8
                                           int4 weights and an fp8 KV cache
  roofscope Qwen/Qwen3-8B --seq 2048 --device h100 --dtype bf16
                                           a hub id: its config.json from the local Hugging Face cache
  roofscope llama-2-7b --seq 2048 --device a100 --dtype fp16 --traffic eager
                                           decode as transformers' eager code moves data
  roofscope llama-2-70b --seq 2048 --device h100 --dtype bf16 --tp 4
                                           split over 4 GPUs: per-GPU memory, the all-reduces
                                           on NVLink and their share of each step, tokens/s per GPU
  roofscope plan llama-2-70b --device h100 --dtype bf16 --seq 2048 --max-tpot 30ms
                                           the fewest GPUs that fit and meet a latency target
  roofscope t5-small --input input_ids=1,128:int64 --input decoder_input_ids=1,1:int64
                                           keyword inputs
  roofscope resnet50 --batch 32 --backward --device h100 --dtype bf16
                                           forward + backward (a training step's work)

  roofscope resnet50 --batch 64 --dtype bf16 --measure cuda
                                           run it for real: measured time, utilization and
                                           roofline efficiency of every op and module
  roofscope resnet18 --measure cpu --device mine.toml --repeats 5
                                           measured on the CPU, against probed ceilings

subcommands (roofscope compare --help, roofscope sweep --help, roofscope probe --help):
  roofscope compare resnet18 resnet50 mobilenet_v3_large --device h100 --dtype bf16
  roofscope sweep resnet50 --batch 1,2,4,...,256 --device h100 --dtype bf16 --plot sweep.png
  roofscope sweep llama-3.1-8b --batch 1,4,...,256 --prompt 2048 --device h100 --dtype bf16
                                           serving curves: tokens/s, time per token, the largest batch
  roofscope presets                        the transformer presets and their parameters
  roofscope probe cuda -o mine.toml        this machine's ceilings, as a device file
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="roofscope",
        description="What a PyTorch model costs: parameters, MACs, FLOPs and memory traffic. Counting builds and runs the "
        "model on the meta device: no weight or activation is allocated, whatever the batch.",
        epilog=EXAMPLES_TEXT + "\nbuilt-in examples: " + ", ".join(EXAMPLES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"roofscope {__version__}")
    parser.add_argument(
        "model",
        nargs="?",
        help="a built-in example (seed-conv), a torchvision name (resnet50), a transformer preset (llama-2-7b) or config.json, timm:NAME, package.module:factory, file.py:Class or a .pt2 file",
    )
    parser.add_argument(
        "--input",
        action="append",
        type=shape,
        metavar="SHAPE",
        help="an input shape, e.g. 1,3,224,224, or 1,128:int64 with a dtype, or a keyword input name=1,128:int64; repeat for several inputs",
    )
    parser.add_argument("--batch", type=positive_int, help="set the first dimension of the (default) inputs")
    parser.add_argument(
        "--seq", type=positive_int, metavar="TOKENS", help="the sequence length of a transformer preset (llama-2-7b --seq 2048)"
    )
    parser.add_argument(
        "--decode-context",
        type=positive_int,
        metavar="TOKENS",
        help="a causal LM preset's serving summary: the tokens in the KV cache at the decode step (default: --seq)",
    )
    parser.add_argument(
        "--backward",
        action="store_true",
        help="count the backward pass too (of the sum of the outputs): forward and backward totals and their ratio",
    )
    parser.add_argument("--format", choices=("json", "csv", "md", "html"), help="write the report in this format (to -o PATH, else stdout)")
    parser.add_argument(
        "-o", "--output", metavar="PATH", help="the file --format writes (the format follows the suffix when --format is not given)"
    )
    parser.add_argument("--depth", type=count, default=2, help="module tree depth to show (default 2)")
    parser.add_argument("--ops", type=count, default=12, help="how many ops to list by cost (0 hides the table)")
    parser.add_argument("--exact", action="store_true", help="exact integers instead of K/M/G units")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    add_device_options(parser, launch=True)
    parser.add_argument("--plot", metavar="PATH", help="write the roofline chart (PNG or SVG by suffix)")
    parser.add_argument(
        "--measure",
        nargs="?",
        const="auto",
        metavar="cpu|cuda",
        help="run the model for real (in eval mode) on cpu or cuda (default: cuda when there is a GPU) and show measured "
        "time, achieved FLOP/s, utilization and roofline efficiency beside the prediction; --dtype then casts the model "
        "(fp32, bf16, fp16, fp64) and --device names the ceilings (default: the GPU's catalog entry)",
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=10, help="with --measure: timed forwards; each figure is their median (default 10)"
    )
    parser.add_argument("--warmup", type=count, default=3, help="with --measure: untimed forwards first (default 3)")

    parser.add_argument(
        "--inductor",
        action="store_true",
        help="with --mode compiled and --device: also compile the model with torch.compile's inductor on the CPU (real "
        "tensors) and print inductor's own count of the bytes its kernels move beside the estimate; slow (a minute or more)",
    )
    for flag, what in (
        ("--tp", "tensor parallel GPUs: attention and MLP matrices split Megatron-style"),
        ("--pp", "pipeline stages: the layers cut into this many consecutive stages"),
        ("--ep", "expert parallel GPUs: a mixture of experts' routed experts spread over them"),
        ("--dp", "data parallel replicas, each serving its own batch"),
    ):
        parser.add_argument(
            flag,
            type=positive_int,
            default=1,
            metavar="N",
            help=f"a causal LM preset's serving summary split over GPUs: {what} (default 1)",
        )
    parser.add_argument(
        "--nodes",
        type=positive_int,
        metavar="N",
        help="with --tp/--pp/--ep/--dp: the servers the GPUs are spread over, as many in each (default: as few as hold them)",
    )
    parser.add_argument("--devices", action="store_true", help="list the device catalog and exit")
    add_counting_options(parser)
    return parser


def _analysis_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of the main command that ``analyze`` and ``LLM`` both take."""
    return {**device_options(args), "causal": args.causal, "strict": args.strict}


def _serving_report(
    args: argparse.Namespace, resolved: ResolvedModel, progress: Callable[[str, int, int], None]
) -> tuple[Report, ServingSummary]:
    """The prefill report of a causal LM preset, and its serving summary."""
    from roofscope.llm import LLM

    split = {"tp": args.tp, "pp": args.pp, "ep": args.ep, "dp": args.dp, "nodes": args.nodes or 0}
    llm = LLM(args.model, model=resolved.model, traffic=args.traffic, progress=progress, **split, **_analysis_options(args))
    batch, seq_len = resolved.inputs["input_ids"].shape
    return llm.prefill(batch, seq_len), llm.summary(batch, seq_len, context=args.decode_context)


def _measure(args: argparse.Namespace, resolved: ResolvedModel, inputs: Any, errors: Console) -> Report:
    """``--measure``: the model (the command line built it: it is ours) moved, cast and run."""
    model, inputs, target = cast_for_run(resolved.model, inputs, device=args.measure, dtype=args.dtype)
    with progress_bar(errors) as bar:
        task = bar.add_task(f"measuring {args.model} on {target}", total=None)
        return measure(
            model,
            inputs,
            device=target,
            roofline=args.device or "auto",
            repeats=args.repeats,
            warmup=args.warmup,
            peak_tflops=args.peak_tflops,
            bandwidth_gbs=args.bandwidth_gbs,
            launch_overhead_us=args.launch_us,
            causal=args.causal,
            strict=args.strict,
            name=resolved.name,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )


def _inductor_count(resolved: ResolvedModel, inputs: Any, errors: Console) -> InductorBytes:
    """``--inductor``: inductor's byte count of the forward just analysed (same model, same inputs)."""
    from roofscope.measurement.inductor import inductor_bytes

    with progress_bar(errors) as bar:
        bar.add_task(f"compiling {resolved.name} with inductor on the CPU (a minute or more)", total=None)
        return inductor_bytes(resolved.model, inputs)


def _check(args: argparse.Namespace) -> None:
    """What the options cannot mean together, before any work is done."""
    if args.measure and args.backward:
        raise ValueError("--measure times the forward pass: it does not combine with --backward")
    if args.inductor and (args.mode != "compiled" or not args.device or args.measure or args.backward):
        raise ValueError(
            "--inductor checks the compiled-mode estimate of a forward: it needs --mode compiled and --device, "
            "without --measure or --backward (e.g. resnet18 --device h100 --mode compiled --inductor)"
        )
    if args.json and (args.format or args.output):
        raise ValueError("--json prints the JSON report to stdout: use --format json -o PATH for a file")


def _report(args: argparse.Namespace, errors: Console) -> tuple[Report, ServingSummary | None, InductorBytes | None]:
    """The report the options ask for (and a transformer preset's serving summary, or inductor's
    count of the same forward)."""
    real = args.measure or args.inductor  # both run the model
    resolved = resolve(args.model, batch=None if args.input else args.batch, seq_len=args.seq, meta=not real)
    inputs = given_inputs(args.input) if args.input else resolved.inputs
    if inputs is None:
        raise ValueError(f"{resolved.name} declares no default inputs: give them with --input, e.g. --input 1,3,224,224")
    if args.input and args.batch is not None:
        inputs = replace_dims(inputs, batch=args.batch)
    # A causal language model preset (or config.json) on its default inputs gets a serving summary.
    serving = resolved.preset is not None and resolved.preset.head in GENERATIVE_HEADS
    serving = serving and not args.input and not args.backward and not real
    for flag, given in (
        ("--decode-context", args.decode_context is not None),
        ("--kv", bool(args.kv)),
        ("--traffic eager", args.traffic == "eager"),
        *((f"--{name} {getattr(args, name)}", getattr(args, name) != 1) for name in ("tp", "pp", "ep", "dp")),
        (f"--nodes {args.nodes}", args.nodes is not None),
    ):
        if given and not serving:
            raise ValueError(
                f"{flag} applies to the serving summary of a causal language model preset or config.json "
                "(e.g. llama-2-7b --seq 2048 --decode-context 4096), without --input, --backward or --measure"
            )
    if args.measure and args.weights:
        raise ValueError("--measure runs the model as it is cast (--dtype); --weights analyses stored weights it cannot run")
    if args.measure:
        return _measure(args, resolved, inputs, errors), None, None
    with progress_bar(errors) as bar:
        task = bar.add_task(f"counting {resolved.name}", total=None)

        def advance(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"counting {resolved.name} ({step})", completed=done, total=total)

        if serving:
            return (*_serving_report(args, resolved, advance), None)
        inputs = inputs if isinstance(inputs, dict) else list(inputs)
        report = analyze_resolved(
            resolved,
            inputs,
            spec=args.model,
            batch=None if args.input else args.batch,
            seq_len=args.seq,
            backward=args.backward,
            progress=advance,
            **_analysis_options(args),
        )
    return report, None, _inductor_count(resolved, inputs, errors) if args.inductor else None


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    console = output_console()
    errors = make_error_console()
    if args.devices:
        console.print(devices_table(devices()))
        return 0
    if args.model is None:
        print_error(errors, "roofscope", "name a model, e.g. roofscope resnet50 (roofscope --help lists the forms)")
        return 2
    try:
        _check(args)
        fmt = check_writable(args.format, args.output, args.plot)
        if args.plot:
            require("matplotlib", "--plot")  # before the analysis, not after it
        with notes_printed(errors, "roofscope"):
            report, summary, inductor = _report(args, errors)
        if args.plot:
            report.plot_roofline(args.plot)
        if fmt or args.output:
            # the report goes to the file (or to stdout) in the format asked, and nowhere else
            write_text(to_format(report, fmt or "json", depth=args.depth, exact=args.exact, serving=summary), args.output)
        elif args.json:
            sys.stdout.write(to_json(report, serving=summary))
        else:
            console.print(render_terminal(report, depth=args.depth, exact=args.exact, ops=args.ops, serving=summary))
        if inductor is not None and report.total.timing is not None:
            errors.print(inductor_line(inductor, report.total.timing.bytes), highlight=False)
    except USER_ERRORS as error:
        print_error(errors, "roofscope", error)
        return 2
    for path in (args.plot, args.output):
        if path:
            errors.print(f"wrote {path}", highlight=False)
    return 0
