"""Published Megatron-LM training throughput against roofscope's predicted training step time.

Run from the repository root:  python bench/parallel_published.py

The published figures: Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU
Clusters Using Megatron-LM" (SC'21, arXiv:2104.04473), Table 1: ten GPT models, 1.7B to 1T
parameters, on A100 80GB GPUs (DGX A100 servers of 8, NVLink 3 inside a server, eight 200 Gb/s HDR
InfiniBand ports each), sequence length 2048, vocabulary 51,200, fp16. Two files of the
NVIDIA/Megatron-LM repository give the rows, and ROWS below copies them:
  * README.md's table image images/cases_april2021.png at commit
    8cfef1bfe74c63206fedebdae67add0d6c469748 (8 April 2021): hidden size, layers, parameters,
    model-parallel size, GPUs, global batch, achieved teraFLOP/s per GPU, % of peak;
  * examples/sc21/run_table_1.sh at commit de7dc40f883ceed06344051c3c7ebd57da59cc53 (10 August
    2021, "scripts for sc21", the paper's reproduction scripts): per row TP, PP, micro-batch size,
    global batch, layers, hidden size, attention heads, the data-parallel implementation (PyTorch
    DDP or Megatron's local one), --checkpoint-activations (full recomputation, every row) and the
    layers per virtual pipeline stage (the interleaved schedule, 76B to 530B).

How each setting maps onto ``LLM.training_step_time`` (nothing fitted to the step times):
  * recompute=True on every row (--checkpoint-activations);
  * interleave = layers / (PP x layers per virtual stage) (76B: 3, 145B: 2, 310B: 2, 530B: 3);
  * overlap_dp=True for the PyTorch-DDP rows (its bucketed all-reduce runs under the last
    micro-batch's backward; Megatron-LM's no-pipelining schedule runs the others under no_sync),
    False for the local-DDP rows (Megatron-LM's train_step all-reduces the gradients after the
    whole forward-backward schedule; megatron/training.py at the commit the scripts name,
    6985e58938d40ad91ac07b0fddcfad8132e1447e).
The model is transformers' GPT-2 with the kernels Megatron-LM ran at that commit
(megatron/model/transformer.py, megatron/arguments.py; every fusion flag at its default, fp16,
sequence 2048):
  * attention as ParallelAttention computes it, the score matrix in memory: torch.baddbmm of q and
    k into an empty buffer (beta=0, alpha=1/sqrt(head size)), the fused scale-mask-softmax kernel
    (scaled_upper_triang_masked_softmax_cuda: one read and one write of the scores, here
    torch.softmax), attention dropout (p=0.1, --attention-dropout), torch.bmm with v; registered
    below as the attention implementation "megatron-2021";
  * the MLP's GeLU as the fused bias-GeLU kernel (--bias-gelu-fusion: one read, one write), here
    the tanh GeLU of one aten op ("gelu_pytorch_tanh"; transformers' "gelu_new" is eight ops);
  * hidden dropout p=0.1 (--hidden-dropout) after attention and the MLP, as transformers' GPT-2
    has it (Megatron fuses it with the bias and the residual add: one pass less, not modelled).
The optimizer step is LLM.training_step_time's (Adam's 28 bytes per parameter); not modelled: the
all-reduce of the tied embedding's gradient between the first and last stages, gradient clipping
(--clip-grad 1.0), data loading (a prefetching loader, off the GPU's path).

Published time per step: the paper's eq. 3, F = 96 B s l h^2 (1 + s / (6 h) + V / (16 l h))
FLOPs per iteration (with recomputation), over GPUs x achieved FLOP/s per GPU. Predicted:
``LLM(GPT-2 config, device="a100-80gb", dtype="fp16", tp=, pp=, dp=).training_step_time(...)``
with Megatron-LM's attention: each op's predicted kernel time (the A100's sustained rates and
kernel model from the device catalog), the collectives at the interconnect's sustained figures
(NCCL's measured bus bandwidths on the A100: 231 GB/s over NVLink, 23.5 GB/s a network port).
Prints a table and writes ``bench/results/parallel-published.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AttentionInterface

from roofscope.llm import LLM
from roofscope.models.presets import Preset

GOAL = 0.15  # the project's goal: median |predicted - published| / published
SEQ, VOCAB = 2048, 51_200
SOURCE = (
    "Narayanan et al. 2021 (SC'21, arXiv:2104.04473), Table 1, as the NVIDIA/Megatron-LM repository publishes it: "
    "README.md, images/cases_april2021.png at commit 8cfef1bfe74c63206fedebdae67add0d6c469748 (achieved teraFLOP/s, GPUs, "
    "batch, shapes) and examples/sc21/run_table_1.sh at commit de7dc40f883ceed06344051c3c7ebd57da59cc53 (TP, PP, "
    "micro-batch, heads, DDP, recomputation, virtual stages)"
)


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the published table, with the run settings of the reproduction script."""

    name: str
    hidden: int
    layers: int
    heads: int
    tp: int
    pp: int
    gpus: int
    micro_batch: int
    batch: int
    ddp: str  # "torch" (PyTorch DDP) or "local" (Megatron-LM's)
    layers_per_chunk: int  # layers per virtual pipeline stage; 0: not interleaved
    achieved_tflops: float  # per GPU, published
    peak_share: float  # of 312 TFLOP/s, published

    @property
    def dp(self) -> int:
        return self.gpus // (self.tp * self.pp)

    @property
    def interleave(self) -> int:
        return self.layers // (self.pp * self.layers_per_chunk) if self.layers_per_chunk else 1


ROWS = [
    Row("1.7B", 2304, 24, 24, 1, 1, 32, 16, 512, "torch", 0, 137, 0.44),
    Row("3.6B", 3072, 30, 32, 2, 1, 64, 16, 512, "torch", 0, 138, 0.44),
    Row("7.5B", 4096, 36, 32, 4, 1, 128, 16, 512, "torch", 0, 142, 0.46),
    Row("18B", 6144, 40, 48, 8, 1, 256, 8, 1024, "torch", 0, 135, 0.43),
    Row("39B", 8192, 48, 64, 8, 2, 512, 4, 1536, "local", 0, 138, 0.44),
    Row("76B", 10240, 60, 80, 8, 4, 1024, 2, 1792, "local", 5, 140, 0.45),
    Row("145B", 12288, 80, 96, 8, 8, 1536, 2, 2304, "local", 5, 148, 0.47),
    Row("310B", 16384, 96, 128, 8, 16, 1920, 1, 2160, "local", 3, 155, 0.50),
    Row("530B", 20480, 105, 128, 8, 35, 2520, 1, 2520, "local", 1, 163, 0.52),
    Row("1T", 25600, 128, 160, 8, 64, 3072, 1, 3072, "local", 0, 163, 0.52),
]


#: The attention implementation that stands for Megatron-LM's (registered in transformers).
ATTENTION = "megatron-2021"


def megatron_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """ParallelAttention's core at commit 6985e58: scores = baddbmm(empty, q, k^T, beta=0,
    alpha=scaling), the fused causal scale-mask-softmax (one pass: torch.softmax stands for it, the
    mask applied inside the kernel), dropout of the probabilities, bmm with v."""
    batch, heads, length, size = query.shape
    q = query.reshape(batch * heads, length, size)
    k = key.reshape(batch * heads, key.shape[-2], size)
    v = value.reshape(batch * heads, value.shape[-2], value.shape[-1])
    empty = torch.empty(batch * heads, length, k.shape[1], dtype=q.dtype, device=q.device)
    scores = torch.baddbmm(empty, q, k.transpose(1, 2), beta=0.0, alpha=size**-0.5 if scaling is None else scaling)
    probabilities = F.dropout(torch.softmax(scores, dim=-1), p=dropout, training=module.training)
    context = torch.bmm(probabilities, v).view(batch, heads, length, value.shape[-1])
    return context.transpose(1, 2), None


def megatron_llm(row: Row) -> LLM:
    """The row's GPT on its layout, with Megatron-LM's attention."""
    llm = LLM(preset(row), device="a100-80gb", dtype="fp16", tp=row.tp, pp=row.pp, dp=row.dp)
    llm.model.set_attn_implementation(ATTENTION)
    return llm


def paper_flops(row: Row) -> float:
    """Eq. 3 of the paper: FLOPs of one iteration with activation recomputation."""
    b, s, layers, h, v = row.batch, SEQ, row.layers, row.hidden, VOCAB
    return 96 * b * s * layers * h**2 * (1 + s / (6 * h) + v / (16 * layers * h))


def preset(row: Row) -> Preset:
    config = dict(n_embd=row.hidden, n_layer=row.layers, n_head=row.heads, vocab_size=VOCAB, n_positions=SEQ)
    return Preset("GPT2Config", dict(config, activation_function="gelu_pytorch_tanh", tie_word_embeddings=True), dtype=torch.float16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join(r.name for r in ROWS), help="comma-separated, of: " + ", ".join(r.name for r in ROWS))
    chosen = {name.strip() for name in parser.parse_args().rows.split(",")}
    rows = [row for row in ROWS if row.name in chosen]
    AttentionInterface.register(ATTENTION, megatron_attention)
    results = []
    for position, row in enumerate(rows, 1):
        start = time.perf_counter()
        llm = megatron_llm(row)
        estimate = llm.training_step_time(
            row.batch, row.micro_batch, SEQ, recompute=True, overlap_dp=row.ddp == "torch", interleave=row.interleave
        )
        published = paper_flops(row) / (row.gpus * row.achieved_tflops * 1e12)
        error = (estimate.seconds - published) / published
        one = llm.training_step(row.micro_batch, SEQ)  # the whole model's micro-batch, as counted on meta
        counted = (2 * one.forward.flops + one.backward.flops) * (row.batch // row.micro_batch)  # forward twice: recomputed
        results.append((row, estimate, published, error, counted / paper_flops(row)))
        print(
            f"[{position}/{len(rows)}] {row.name}: published {published:.3f} s, predicted {estimate.seconds:.3f} s "
            f"({error:+.1%}), {time.perf_counter() - start:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    median = statistics.median(abs(result[3]) for result in results)
    lines = [
        f"# Megatron-LM (Narayanan et al. 2021) training step times against roofscope ({datetime.date.today()})",
        "",
        "`python bench/parallel_published.py`. Published: " + SOURCE + ". Time per step = the paper's eq. 3 FLOPs / "
        '(GPUs x achieved teraFLOP/s per GPU). Predicted: `LLM(GPT-2 config, device="a100-80gb", dtype="fp16", '
        "tp=, pp=, dp=).training_step_time(B, b, 2048, recompute=True, overlap_dp=(DDP is torch), interleave=v)`, "
        "the model with the kernels Megatron-LM ran (attention with the score matrix in memory, fused GeLU, dropout 0.1; "
        "the script's docstring), its collectives at NCCL's measured bus bandwidths (231 GB/s over the A100's NVLink, "
        "23.5 GB/s a network port); nothing fitted. Goal: median |error| <= 15%.",
        "",
        "| model | hidden x layers, heads | layout | v | B / b | m | DDP | published TFLOP/s | published s/step "
        "| predicted s/step | error | micro-batch: compute / TP / PP s | bubble | DP exposed s | optimizer s | predicted TFLOP/s "
        "| counted FLOPs / eq. 3 |",
        "|---|---|---|---:|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row, e, published, error, ratio in results:
        lines.append(
            f"| {row.name} | {row.hidden} x {row.layers}, {row.heads} | TP {row.tp} x PP {row.pp} x DP {row.dp} | {row.interleave} "
            f"| {row.batch} / {row.micro_batch} | {e.micro_batches} | {row.ddp} | {row.achieved_tflops:g} | {published:.2f} "
            f"| {e.seconds:.2f} | {error:+.1%} | {e.compute_s:.3f} / {e.tp_s:.3f} / {e.pp_s:.4f} | {e.bubble:.1%} "
            f"| {e.exposed_dp_s:.3f} | {e.optimizer_s:.3f} | {e.achieved_flops(paper_flops(row)) / 1e12:.0f} | {ratio:.3f} |"
        )
    met = "met" if median <= GOAL else "not met"
    lines += ["", f"Median |error|: {median:.1%} over {len(results)} rows; the goal (<= 15%) is {met}."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).parent / "results" / "parallel-published.md"
    out.write_text(text)
    print(f"written: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
