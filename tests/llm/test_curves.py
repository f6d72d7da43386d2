"""Serving curves (roofscope.llm.curves): one causal LM over batch sizes, several side by side."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("transformers")

from roofscope.llm import LLM, compare_serving, serving_curve


def test_a_curve_is_the_summary_at_each_batch_and_the_largest_batch(tiny_llama_config: Callable[..., str]) -> None:
    config = tiny_llama_config()
    curve = serving_curve(config, [1, 4], seq_len=32, context=48, device="h100", dtype="bf16")
    llm = LLM(config, device="h100", dtype="bf16")
    assert [row.to_dict() for row in curve.rows] == [llm.summary(batch, 32, 48).to_dict() for batch in (1, 4)]
    assert curve.largest_batch == llm.largest_batch(32, 48)
    assert llm.memory(curve.largest_batch, 48, seq_len=32).fits and not llm.memory(curve.largest_batch + 1, 48, seq_len=32).fits
    four = curve.rows[1]
    assert four.tokens_per_second == pytest.approx(4 / four.time_per_output_token)
    assert four.kv_cache_bytes == 4 * 48 * 2 * 2 * 2 * 16 * 2  # batch x tokens x (K, V) x layers x kv heads x head dim x bf16
    assert curve.to_dict()["largest_batch"] == curve.largest_batch


def test_compare_is_each_models_summary_at_the_same_shape(tiny_llama_config: Callable[..., str]) -> None:
    small, wide = tiny_llama_config("small"), tiny_llama_config("wide", num_key_value_heads=4)
    rows = compare_serving([small, wide], batch=2, seq_len=16, device="h100", dtype="bf16")
    assert [row.to_dict() for row in rows] == [LLM(spec, device="h100", dtype="bf16").summary(2, 16).to_dict() for spec in (small, wide)]
    assert rows[1].kv_cache_bytes == 2 * rows[0].kv_cache_bytes  # twice the key/value heads


def test_an_llm_reports_the_progress_of_each_step_it_analyses(tiny_llama_config: Callable[..., str]) -> None:
    steps: list[str] = []
    llm = LLM(tiny_llama_config(), device="h100", progress=lambda step, done, total: steps.append(step))
    llm.summary(batch=1, seq_len=16)
    assert steps and set(steps) == {"prefill forward", "decode forward"}
    assert steps.index("decode forward") > steps.index("prefill forward")
