"""The serving rows as CSV and Markdown (roofscope.render.llm): the summaries' own figures, one row each."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import pytest

pytest.importorskip("transformers")

from roofscope.llm import compare_serving
from roofscope.render.llm import serving_rows_text


def test_serving_rows_as_csv_markdown_and_json(tiny_llama_config: Callable[..., str]) -> None:
    rows = compare_serving([tiny_llama_config()], batch=2, seq_len=16, device="h100", dtype="bf16")
    summary = rows[0]
    (parsed,) = csv.DictReader(io.StringIO(serving_rows_text(rows, "csv")))
    assert int(parsed["batch"]) == 2 and int(parsed["prompt"]) == int(parsed["context"]) == 16
    assert float(parsed["tpot_s"]) == summary.time_per_output_token and float(parsed["ttft_s"]) == summary.prefill_s
    assert int(parsed["kv_cache_bytes"]) == summary.kv_cache_bytes and int(parsed["memory_bytes"]) == summary.memory.total
    assert parsed["fits"] == "True" and parsed["traffic"] == "serving"
    header, rule, row = serving_rows_text(rows, "md").splitlines()
    assert header.split(" | ")[1:3] == ["batch", "prompt"] and rule.count("---|") == len(parsed)
    assert f" {summary.kv_cache_bytes} " in row
    assert json.loads(serving_rows_text(rows, "json", largest_batch=7)) == {"largest_batch": 7, "rows": [summary.to_dict()]}
    with pytest.raises(ValueError, match="json, csv or md, not html"):
        serving_rows_text(rows, "html")
