"""Serving curves (roofscope.llm.curves): one causal LM over batch sizes, several side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from roofscope.llm import LLM, compare_serving, serving_curve

TINY_LLAMA = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "vocab_size": 1000,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "torch_dtype": "bfloat16",
    "tie_word_embeddings": False,
}


def _config(folder: Path, **changes: object) -> str:
    folder.mkdir()
    path = folder / "config.json"
    path.write_text(json.dumps({**TINY_LLAMA, **changes}))
    return str(path)


def test_a_curve_is_the_summary_at_each_batch_and_the_largest_batch(tmp_path: Path) -> None:
    config = _config(tmp_path / "tiny")
    curve = serving_curve(config, [1, 4], seq_len=32, context=48, device="h100", dtype="bf16")
    llm = LLM(config, device="h100", dtype="bf16")
    assert [row.to_dict() for row in curve.rows] == [llm.summary(batch, 32, 48).to_dict() for batch in (1, 4)]
    assert curve.largest_batch == llm.largest_batch(32, 48)
    assert llm.memory(curve.largest_batch, 48, seq_len=32).fits and not llm.memory(curve.largest_batch + 1, 48, seq_len=32).fits
    four = curve.rows[1]
    assert four.tokens_per_second == pytest.approx(4 / four.time_per_output_token)
    assert four.kv_cache_bytes == 4 * 48 * 2 * 2 * 2 * 16 * 2  # batch x tokens x (K, V) x layers x kv heads x head dim x bf16
    assert curve.to_dict()["largest_batch"] == curve.largest_batch


def test_compare_is_each_models_summary_at_the_same_shape(tmp_path: Path) -> None:
    small, wide = _config(tmp_path / "small"), _config(tmp_path / "wide", num_key_value_heads=4)
    rows = compare_serving([small, wide], batch=2, seq_len=16, device="h100", dtype="bf16")
    assert [row.to_dict() for row in rows] == [LLM(spec, device="h100", dtype="bf16").summary(2, 16).to_dict() for spec in (small, wide)]
    assert rows[1].kv_cache_bytes == 2 * rows[0].kv_cache_bytes  # twice the key/value heads
