"""Training step time on a layout (``LLM.training_step_time``): each term against a hand count.

A small GPT-2 (hidden 256, 4 layers, 4 heads, vocabulary 51200, tied embeddings) in fp16 on an
A100 80GB (8 GPUs per node; NVLink 3 at the bus bandwidth NCCL's ring reaches on it, 231 GB/s per
direction, and 1.2 us per ring step: the predicted step time's collective figures), sequences of
128 tokens, micro-batches of 2: one micro-batch's activations A = 2 x 128 x 256 x 2 B = 131,072 B.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from roofscope.analysis import AnalysisError
from roofscope.llm import LLM
from roofscope.llm.parallel import Split, bubble_fraction, collective_time, optimizer_bytes
from roofscope.models.presets import Preset

GPT = Preset(
    "GPT2Config",
    dict(vocab_size=51200, n_positions=128, n_embd=256, n_layer=4, n_head=4, activation_function="gelu_new", tie_word_embeddings=True),
)
SEQ, MICRO = 128, 2
A = MICRO * SEQ * 256 * 2  # 131,072 B
LINK, LATENCY = 231e9, 1.2e-6


@pytest.fixture(scope="module")
def single() -> LLM:
    return LLM(GPT, device="a100-80gb", dtype="fp16")


def _on(base: LLM, **layout: int) -> LLM:
    return LLM(GPT, device="a100-80gb", dtype="fp16", model=base.model, **layout)


def _phase_seconds(llm: LLM, phase: str) -> float:
    """The predicted kernel time of a phase's ops (no host time: a training GPU is kept busy)."""
    report = llm.training_step(MICRO, SEQ).report
    return sum(r.timing.device_s for r in report.ops if r.timing is not None and r.event.phase == phase)


def test_one_gpu_is_m_micro_batches_of_the_analysed_forward_and_backward(single: LLM) -> None:
    estimate = single.training_step_time(global_batch=8, micro_batch=MICRO, seq_len=SEQ)
    forward, backward = _phase_seconds(single, "forward"), _phase_seconds(single, "backward")
    assert estimate.micro_batches == 4  # 8 / (2 x 1)
    assert estimate.forward_s == pytest.approx(forward) and estimate.backward_s == pytest.approx(backward)
    assert (estimate.tp_s, estimate.pp_s, estimate.dp_s, estimate.bubble) == (0.0, 0.0, 0.0, 0.0)
    # Adam once per step: 24 B of fp32 state read and written, the fp16 gradient read and the fp16
    # weight written per parameter, at the A100's sustained 1,737 GB/s
    params = single.model.num_parameters()
    assert estimate.optimizer_bytes == optimizer_bytes(params, dtype_bytes=2) == 28 * params
    assert estimate.optimizer_s == pytest.approx(28 * params / 1737e9)
    assert estimate.seconds == pytest.approx(4 * (forward + backward) + estimate.optimizer_s)
    report = single.training_step(MICRO, SEQ).report
    assert estimate.flops == 4 * (report.forward.flops + report.backward.flops)  # type: ignore[union-attr]
    assert estimate.tokens_per_second == pytest.approx(8 * 128 / estimate.seconds)
    assert estimate.achieved_flops(1e12) == pytest.approx(1e12 / (1 * estimate.seconds))  # over 1 GPU
    assert estimate.to_dict()["seconds"] == estimate.seconds and estimate.to_dict()["micro_batches"] == 4


def test_composition_tp2_pp2_dp2_by_hand(single: LLM) -> None:
    llm = _on(single, tp=2, pp=2, dp=2)  # 8 GPUs: one node, every group on NVLink
    estimate = llm.training_step_time(global_batch=16, micro_batch=MICRO, seq_len=SEQ)
    m, p = 4, 2  # 16 / (2 x 2) micro-batches, 2 stages
    assert estimate.micro_batches == m
    one_reduce = 2 * LATENCY + A / LINK  # ring over 2: 2(n-1) = 2 steps, 2(n-1)/n x A = A on the wire
    assert collective_time("all-reduce", A, 2, bandwidth=LINK, latency=LATENCY) == pytest.approx(one_reduce)
    assert estimate.tp_s == pytest.approx(4 * 2 * one_reduce)  # 2 forward + 2 backward, 2 layers in the stage
    assert estimate.pp_s == pytest.approx(2 * (LATENCY + A / LINK))  # activations on, gradients back
    # DP: an all-reduce of the fullest stage's fp16 gradients over 2 GPUs, once per step
    (dp,) = [c for c in llm.training_collectives(micro_batch=MICRO, seq_len=SEQ, sustained=True) if c.parallelism == "DP"]
    assert estimate.dp_s == pytest.approx(dp.seconds)
    assert dp.message == 2 * max(Split(llm, llm.layout).stage_params())
    slot = estimate.forward_s + estimate.backward_s + estimate.tp_s + estimate.pp_s
    assert estimate.microbatch_s == pytest.approx(slot)
    assert estimate.seconds == pytest.approx((m + p - 1) * slot + estimate.dp_s + estimate.optimizer_s)
    # the optimizer updates the fullest stage's parameters on each GPU; ZeRO-1 shards them over DP
    updated = max(Split(llm, llm.layout).stage_params())
    assert estimate.optimizer_bytes == 28 * updated
    zero = llm.training_step_time(global_batch=16, micro_batch=MICRO, seq_len=SEQ, zero=1)
    assert zero.optimizer_bytes == 28 * -(-updated // 2)
    # overlapped: the DP all-reduce runs under the last micro-batch's backward, only what exceeds it shows
    overlapped = llm.training_step_time(global_batch=16, micro_batch=MICRO, seq_len=SEQ, overlap_dp=True)
    assert overlapped.exposed_dp_s == max(0.0, estimate.dp_s - estimate.backward_s)
    exposed = max(0.0, estimate.dp_s - estimate.backward_s)
    assert overlapped.seconds == pytest.approx((m + p - 1) * slot + exposed + estimate.optimizer_s)
    # the step's collectives: TP and PP of every micro-batch on the stage, DP once
    counts = {(c.parallelism, c.kind): c.count for c in estimate.collectives}
    assert counts == {("TP", "all-reduce"): 4 * 2 * m, ("PP", "send-recv"): 2 * m, ("DP", "all-reduce"): 1}


def test_the_bubble_is_p_minus_1_idle_slots(single: LLM) -> None:
    for global_batch, m in ((2, 1), (8, 4), (32, 16)):
        estimate = _on(single, pp=4).training_step_time(global_batch=global_batch, micro_batch=MICRO, seq_len=SEQ)
        assert estimate.micro_batches == m
        assert estimate.bubble == bubble_fraction(4, m) == 3 / (m + 3)
        assert estimate.pipeline_s == pytest.approx((m + 3) * estimate.microbatch_s)
        assert estimate.pipeline_s * (1 - estimate.bubble) == pytest.approx(m * estimate.microbatch_s)


def _in_layer(module: str, layers: range) -> bool:
    return any(f".h.{i}." in f".{module}." for i in layers)


def test_the_interleaved_schedule_shortens_the_bubble_v_times_and_sends_v_times_more(single: LLM) -> None:
    llm = _on(single, pp=2)
    plain = llm.training_step_time(global_batch=16, micro_batch=MICRO, seq_len=SEQ)
    chunks = llm.training_step_time(global_batch=16, micro_batch=MICRO, seq_len=SEQ, interleave=2)
    m, p, v = 8, 2, 2  # 16 / 2 micro-batches; 4 layers in 2 x 2 chunks of one layer
    assert chunks.pp_s == pytest.approx(2 * v * (LATENCY + A / LINK)) and plain.pp_s == pytest.approx(2 * (LATENCY + A / LINK))
    assert chunks.compute_s == plain.compute_s  # each GPU still runs its 2 layers per micro-batch
    assert chunks.pipeline_s == pytest.approx((m + (p - 1) / v) * chunks.microbatch_s)
    assert chunks.bubble == bubble_fraction(p, m, v) == 1 / (v * m + p - 1) == 1 / 17
    with pytest.raises(AnalysisError, match="needs pipeline stages"):
        single.training_step_time(global_batch=16, micro_batch=MICRO, seq_len=SEQ, interleave=2)
    with pytest.raises(AnalysisError, match="do not divide"):
        llm.training_step_time(global_batch=16, micro_batch=MICRO, seq_len=SEQ, interleave=3)
    with pytest.raises(AnalysisError, match="multiple of pp"):
        llm.training_step_time(global_batch=6, micro_batch=MICRO, seq_len=SEQ, interleave=2)


def test_pp_stages_split_the_forward_and_backward_and_the_slowest_sets_the_pace(single: LLM) -> None:
    report = single.training_step(MICRO, SEQ).report
    llm = _on(single, pp=2)
    split = Split(llm, llm.layout)
    for phase in ("forward", "backward"):
        ops = [r for r in report.ops if r.cost is not None and r.event.phase == phase]
        stages = split.step_per_stage(report, phase)
        assert sum(cost.flops for cost, _ in stages) == report.phases[phase].flops
        # 2 of the 4 layers in each stage; the ops outside the layers before the first layer op and
        # after the last: forward the embedding before, the head after; backward the reverse
        inside = [i for i, r in enumerate(ops) if _in_layer(r.event.module, range(4))]
        before = sum(r.cost.flops for r in ops[: inside[0]])  # type: ignore[union-attr]
        after = sum(r.cost.flops for r in ops[inside[-1] + 1 :])  # type: ignore[union-attr]
        assert before + after + sum(ops[i].cost.flops for i in inside) == report.phases[phase].flops  # type: ignore[union-attr]
        first = sum(r.cost.flops for r in ops if _in_layer(r.event.module, range(2)))  # type: ignore[union-attr]
        second = sum(r.cost.flops for r in ops if _in_layer(r.event.module, range(2, 4)))  # type: ignore[union-attr]
        head = ops[inside[-1] + 1 :] if phase == "forward" else ops[: inside[0]]
        assert any(r.event.module == "lm_head" for r in head)  # the output projection (and its gradient) in the last stage
        extra = (before, after) if phase == "forward" else (after, before)
        assert stages[0][0].flops == first + extra[0]
        assert stages[1][0].flops == second + extra[1]
    estimate = llm.training_step_time(global_batch=4, micro_batch=MICRO, seq_len=SEQ)
    pairs = zip(
        split.step_per_stage(report, "forward", predicted=True), split.step_per_stage(report, "backward", predicted=True), strict=True
    )
    busy = [(f[1] or 0.0) + (b[1] or 0.0) for f, b in pairs]
    assert estimate.forward_s + estimate.backward_s == pytest.approx(max(busy))


def test_recomputation_adds_one_forward_and_its_two_all_reduces_per_layer(single: LLM) -> None:
    llm = _on(single, tp=2)  # one stage: the same stage is the slowest with or without recomputation
    plain = llm.training_step_time(global_batch=8, micro_batch=MICRO, seq_len=SEQ)
    again = llm.training_step_time(global_batch=8, micro_batch=MICRO, seq_len=SEQ, recompute=True)
    one_reduce = 2 * LATENCY + A / LINK
    assert again.compute_s == pytest.approx(2 * plain.forward_s + plain.backward_s)
    assert plain.tp_s == pytest.approx(4 * 4 * one_reduce)  # 2 forward + 2 backward, 4 layers
    assert again.tp_s == pytest.approx(6 * 4 * one_reduce)  # and the recomputed forward's 2
    assert again.seconds - plain.seconds == pytest.approx(4 * (plain.forward_s + 2 * 4 * one_reduce))  # m = 4 slots
    report = llm.training_step(MICRO, SEQ).report
    split = Split(llm, llm.layout)
    pairs = list(
        zip(split.step_per_stage(report, "forward", predicted=True), split.step_per_stage(report, "backward", predicted=True), strict=True)
    )
    forward, backward = max(pairs, key=lambda pair: 2 * (pair[0][1] or 0.0) + (pair[1][1] or 0.0))
    assert again.flops == again.micro_batches * (2 * forward[0].flops + backward[0].flops)


def test_a_kernel_split_over_gpus_still_takes_the_shortest_kernel_time(single: LLM) -> None:
    """Each op's predicted kernel time is divided by its split, but not below the GPU default of 1.3 us
    floor: at TP 4 the small GPT's forward is at least its kernels' floors, more than a quarter of TP 1's."""
    report = single.training_step(MICRO, SEQ).report
    floor = 1.3e-6  # [defaults.gpu] kernel_floor_us
    assert report.device is not None and report.device.execution.kernel_floor_s == pytest.approx(floor)
    llm = _on(single, tp=4)
    kernels = [r for r in report.ops if r.timing is not None and r.timing.device_s >= floor and r.event.phase == "forward"]
    ((_, split_forward),) = Split(llm, llm.layout).step_per_stage(report, "forward", predicted=True)
    ((_, whole_forward),) = Split(single, single.layout).step_per_stage(report, "forward", predicted=True)
    assert whole_forward == pytest.approx(_phase_seconds(single, "forward"))
    assert split_forward is not None and whole_forward is not None
    assert split_forward >= len(kernels) * floor > whole_forward / 4
    ((_, roofline),) = Split(llm, llm.layout).step_per_stage(report, "forward")  # the roofline: no floor
    assert roofline is not None and roofline < len(kernels) * floor


def test_the_estimate_shows_itself_in_a_terminal_and_a_notebook(single: LLM) -> None:
    estimate = _on(single, dp=2).training_step_time(global_batch=8, micro_batch=MICRO, seq_len=SEQ, overlap_dp=True)
    text = " ".join(str(estimate).replace("│", " ").split())
    assert "training step of GPT2Config on TP 1 x PP 1 x DP 2 = 2 x NVIDIA A100 80GB SXM4, fp16, 8 sequences of 128 tokens" in text
    assert "2 micro-batches of 2 x 128 tokens per replica; bubble 0.0%" in text and "TP all-reduces - no tensor parallelism" in text
    assert "what outlasts the last backward" in text and "Adam:" in text
    assert "optimizer" in estimate._repr_html_() and estimate.to_dict()["device"] == "NVIDIA A100 80GB SXM4"


def test_the_batch_must_divide_into_micro_batches_and_replicas(single: LLM) -> None:
    with pytest.raises(AnalysisError, match="multiple of micro-batch x dp"):
        _on(single, dp=2).training_step_time(global_batch=6, micro_batch=2, seq_len=SEQ)
    with pytest.raises(AnalysisError, match="needs a device"):
        LLM(GPT, model=single.model).training_step_time(global_batch=2, micro_batch=2, seq_len=SEQ)


def _bench() -> Any:
    path = Path(__file__).parents[2] / "bench" / "parallel_published.py"
    spec = importlib.util.spec_from_file_location("parallel_published", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_published_step_time_is_eq_3_over_gpus_x_achieved() -> None:
    bench = _bench()
    rows = {row.name: row for row in bench.ROWS}
    trillion = rows["1T"]  # B 3072, s 2048, l 128, h 25600, V 51200; 3072 GPUs at 163 TFLOP/s
    by_hand = 96 * 3072 * 2048 * 128 * 25600**2 * (1 + 2048 / (6 * 25600) + 51200 / (16 * 128 * 25600))
    assert bench.paper_flops(trillion) == pytest.approx(by_hand) == pytest.approx(5.1390e19, rel=1e-4)
    assert by_hand / (3072 * 163e12) == pytest.approx(102.63, abs=0.01)  # seconds per step
    # the layouts: GPUs / (TP x PP) replicas; virtual stages = layers / (PP x layers per virtual stage)
    assert (rows["1.7B"].dp, rows["145B"].dp, rows["530B"].dp) == (32, 24, 9)
    assert [rows[name].interleave for name in ("39B", "76B", "145B", "310B", "530B", "1T")] == [1, 3, 2, 2, 3, 1]
