"""``roofscope MODEL --tp/--pp/--ep/--dp``: the serving summary split over GPUs, through main() in
this process (tests/cli/test_commands.py shows that main's exit status reaches the shell)."""

from __future__ import annotations

import json

import pytest

from roofscope.cli import main


def test_llama_2_70b_on_four_h100s(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["llama-2-70b", "--seq", "2048", "--device", "h100", "--dtype", "bf16", "--tp", "4", "--ops", "0"]) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())  # the panel's wrapped lines as one
    assert "TP 4 x PP 1 x DP 1 = 4 GPUs (1 node)" in out
    # weights 137,950,658,560 / 4 + 2 x 1,318,912 (replicated norms) = 34,490,302,464 B
    assert "memory per GPU 34.7GB = weights 34.5GB + KV cache 168MB" in out and "fits in 80GB" in out
    assert "80 TP all-reduces of 16.4KB (after attention" in out  # batch 1 x 8192 x 2 B
    assert "of the step, not overlapped" in out and "per GPU (dp x batch / time per output token)" in out


def test_json_carries_the_layout_and_its_collectives(tiny_llama_config, capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny_llama_config()
    assert main([path, "--seq", "16", "--device", "h100", "--dtype", "bf16", "--tp", "2", "--pp", "2", "--json"]) == 0
    parallel = json.loads(capsys.readouterr().out)["llm"]["parallel"]
    assert parallel["layout"] == {"tp": 2, "pp": 2, "ep": 1, "dp": 1, "gpus": 4, "nodes": 0}
    counts = {(c["kind"], c["where"]): c["count"] for c in parallel["decode"]["collectives"]}
    assert counts[("all-reduce", "after attention: o_proj's partial sums")] == 2  # one per layer, 2 layers
    assert counts[("send-recv", "the activations between stages")] == 1  # p - 1
    # stage 0: embedding 1000 x 64 / 2 + layer 0 (q, o 64 x 64; k, v 32 x 64; gate, up, down 128 x 64) / 2 + 2 norms
    layer = (2 * 64 * 64 + 2 * 32 * 64 + 3 * 128 * 64) // 2
    assert parallel["stage_weights"][0] == 2 * (1000 * 64 // 2 + layer + 2 * 64)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tp", "3"], "tp=3 must divide the 4 attention heads"),
        (["--tp", "0"], "argument --tp: expected a positive integer, got 0"),
        (["--ep", "2"], "ep=2 must divide tp x dp = 1"),
        (["--pp", "3"], "pp=3 stages need at least 3 layers; the model has 2"),
    ],
)
def test_bad_layouts_exit_2_in_one_line(tiny_llama_config, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main([tiny_llama_config(), "--seq", "16", "--device", "h100", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err + captured.out


def test_a_layout_needs_a_serving_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed-conv", "--tp", "2"]) == 2
    assert "--tp 2 applies to the serving summary" in capsys.readouterr().err


def test_plan_chooses_one_gpu_for_a_tiny_model(tiny_llama_config, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["plan", tiny_llama_config(), "--device", "h100", "--dtype", "bf16", "--seq", "16", "--max-tpot", "30ms", "--max-gpus", "2"])
        == 0
    )
    out = " ".join(capsys.readouterr().out.split())
    assert "> TP 1 x PP 1 x DP 1" in out and "the fewest GPUs (1) that fit in memory and meet time per output token <= 30 ms" in out


def test_plan_exits_2_in_one_line_when_nothing_qualifies(tiny_llama_config, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", tiny_llama_config(), "--device", "h100", "--seq", "16", "--max-tpot", "0.001us", "--max-gpus", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "roofscope plan: no layout of up to 2 GPUs serves" in err


@pytest.mark.parametrize(
    ("text", "message"), [("--max-tpot=-3ms", "expected a positive time"), ("--max-tpot=fast", "expected a positive time")]
)
def test_plan_bad_target(capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    assert main(["plan", "llama-2-7b", "--device", "h100", text]) == 2
    assert message in capsys.readouterr().err


def test_markdown_shows_the_layout(tiny_llama_config, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([tiny_llama_config(), "--seq", "16", "--device", "h100", "--dtype", "bf16", "--tp", "2", "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "- layout: TP 2 x PP 1 x DP 1 = 2 GPUs (1 node), batch 1 per replica; NVLink 4 through NVSwitch (450 GB/s per direction)" in out
    assert "- memory per GPU: " in out and "- collectives: per output token: 1 TP all-reduce of 128B" in out  # 1 x 64 x 2 B


def test_plan_json(tiny_llama_config, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "plan",
        tiny_llama_config(),
        "--device",
        "h100",
        "--dtype",
        "bf16",
        "--seq",
        "16",
        "--max-tpot",
        "1s",
        "--max-gpus",
        "2",
        "--json",
    ]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["layout"]["gpus"] for c in data["candidates"]] == [1, 2, 2]  # TP 1; TP 1 x PP 2; TP 2
    assert data["chosen"]["layout"] == {"tp": 1, "pp": 1, "ep": 1, "dp": 1, "gpus": 1, "nodes": 0} and data["max_tpot_s"] == 1.0


def test_train_prints_each_term_of_the_step(tiny_llama_config, capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny_llama_config()
    argv = ["train", path, "--device", "a100", "--dtype", "fp16", "--seq", "16", "--batch", "8", "--micro-batch", "2"]
    assert main([*argv, "--tp", "2", "--pp", "2", "--recompute"]) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "TP 2 x PP 2 x DP 1 = 4 x NVIDIA A100 80GB SXM4, fp16, 8 sequences of 16 tokens" in out
    for term in ("forward x 2 (recomputed) + backward", "4 micro-batches of 2 x 16 tokens per replica; bubble 20.0%", "Adam:", "tokens/s"):
        assert term in out  # bubble (p - 1) / (m + p - 1) = 1 / 5
    assert main([*argv, "--dp", "2", "--zero", "1", "--json"]) == 0
    estimate = json.loads(capsys.readouterr().out)
    assert estimate["layout"]["dp"] == 2 and estimate["micro_batches"] == 2 and estimate["optimizer_bytes"] > 0
    assert estimate["seconds"] == pytest.approx(estimate["pipeline_s"] + estimate["exposed_dp_s"] + estimate["optimizer_s"])


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--batch", "6", "--dp", "4"], "must be a multiple of micro-batch x dp"), (["--batch", "8", "--zero", "4"], "invalid choice: 4")],
)
def test_train_bad_requests_exit_2_in_one_line(
    tiny_llama_config, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["train", tiny_llama_config(), "--device", "a100", "--seq", "16", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
