"""``roofscope.llm.plan``: the fewest GPUs that fit and meet a time per output token."""

from __future__ import annotations

import pytest

from roofscope.analysis import AnalysisError
from roofscope.llm import LLM
from roofscope.llm.plan import candidate_layouts, plan


def test_llama_2_70b_in_bf16_on_h100s_within_30_ms() -> None:
    llm = LLM("llama-2-70b", device="h100", dtype="bf16")
    result = plan(llm, max_tpot=30e-3, seq_len=2048, max_gpus=8)
    one = result.candidates[0]
    # one GPU: 137,953,296,384 B of weights > 80 GB; and a decode step reads them all at 3.35 TB/s: >= 41.2 ms
    assert one.gpus == 1 and one.fits is False and one.summary.time_per_output_token >= 137_953_296_384 / 3.35e12
    pipeline = next(c for c in result.candidates if (c.layout.tp, c.layout.pp) == (1, 2))
    assert pipeline.fits and not pipeline.meets_target  # PP halves the memory, not the time per token
    assert result.chosen is not None and (result.chosen.layout.tp, result.chosen.layout.pp, result.chosen.gpus) == (2, 1, 2)
    assert result.reason.startswith("TP 2 x PP 1 x DP 1: the fewest GPUs (2)")
    assert [c.gpus for c in result.candidates] == sorted(c.gpus for c in result.candidates)
    assert {(c.layout.tp, c.layout.pp) for c in result.candidates} == {
        (1, 1),
        (1, 2),
        (2, 1),
        (1, 4),
        (2, 2),
        (4, 1),
        (1, 8),
        (2, 4),
        (4, 2),
        (8, 1),
    }


def test_nothing_qualifies(tiny_llama_config) -> None:
    llm = LLM(tiny_llama_config(), device="h100", dtype="bf16")
    result = plan(llm, max_tpot=1e-9, seq_len=16, max_gpus=4)
    assert result.chosen is None
    assert result.reason.endswith("none meets time per output token <= 1e-06 ms")
    # 4 heads, 2 KV heads, 2 layers: TP in {1, 2, 4}, PP in {1, 2}
    assert [(l.tp, l.pp) for l in candidate_layouts(llm, 4)] == [(1, 1), (1, 2), (2, 1), (2, 2), (4, 1)]
    with pytest.raises(AnalysisError, match="needs a device"):
        plan(LLM(tiny_llama_config("other")), max_tpot=1.0)


def test_a_mixture_of_experts_weighs_ep_up_to_tp(tiny_mixtral) -> None:
    llm = tiny_mixtral(device="h100", dtype="bf16")
    layouts = [(l.tp, l.pp, l.ep) for l in candidate_layouts(llm, 4)]
    # TP in {1, 2, 4} (4 heads), PP in {1, 2} (2 layers), EP in {1, 2, 4} with EP <= TP (it divides TP x DP = TP)
    assert layouts == [(1, 1, 1), (1, 2, 1), (2, 1, 1), (2, 1, 2), (2, 2, 1), (2, 2, 2), (4, 1, 1), (4, 1, 2), (4, 1, 4)]
    result = plan(llm, max_tpot=1.0, seq_len=16, max_gpus=4)
    assert result.chosen is not None and result.chosen.gpus == 1
