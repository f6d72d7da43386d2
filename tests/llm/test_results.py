"""How the LLM results show themselves: ``print(summary)`` is the command line's panel, a notebook
shows the HTML section with prefill and decode side by side; a training step shows its report."""

from __future__ import annotations

import io
import re

import pytest
import torch
from rich.console import Console

pytest.importorskip("transformers")

from roofscope.llm import LLM, Preset, ServingSummary
from roofscope.render.llm import render_llm_summary


def _tiny() -> LLM:
    config = dict(
        vocab_size=1000,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
    )
    return LLM(Preset("LlamaConfig", config, dtype=torch.bfloat16), device="h100")


@pytest.fixture(scope="module")
def summary() -> ServingSummary:
    return _tiny().summary(batch=2, seq_len=64)


def test_str_is_the_serving_panel_not_a_dataclass_dump(summary):
    text = str(summary)
    console = Console(file=io.StringIO(), width=120, color_system=None, record=True)
    console.print(render_llm_summary(summary))
    assert text == "\n".join(line.rstrip() for line in console.export_text().splitlines())
    assert "LLM serving" in text and "per output token" in text and "ServingSummary(" not in text
    assert repr(summary).startswith("ServingSummary(")  # repr stays the dataclass's, for debugging


def test_notebook_html_shows_both_phases(summary):
    html = summary._repr_html_()
    assert html.startswith('<div class="roofscope">') and "<h2>LLM serving</h2>" in html
    rows = re.findall(r'<tr><td class="l">(prefill|decode)[^<]*</td><td>([\d,]+)</td>', html)
    # prefill: the whole prompt, batch x seq_len tokens; decode: one token per sequence
    assert rows == [("prefill", f"{summary.prefill.tokens:,}"), ("decode", f"{summary.decode.tokens:,}")]
    assert summary.prefill.tokens == 2 * 64 and summary.decode.tokens == 2


def test_a_training_step_shows_its_report():
    step = _tiny().training_step(batch=1, seq_len=16)
    assert str(step) == str(step.report) and "by op" in str(step)
    assert step._repr_html_() == step.report._repr_html_()


def test_step_intensity_is_flops_per_byte(summary):
    step = summary.decode
    assert step.intensity == step.flops / step.bytes
    assert "intensity" not in step.to_dict()  # the JSON keeps its fields; intensity is derived
