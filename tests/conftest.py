import os

import pytest
import torch
import torch._dynamo  # torch imports it lazily the first time a mode runs, and the import

# rebinds torch.manual_seed once; imported here, it cannot look like an analysis patching torch.
from state_guard import assert_same, global_state
from tiny_configs import TINY_LLAMA


@pytest.fixture(autouse=True)
def _torch_state_is_left_alone():
    """Every test: torch's global state (modes, global hooks, grad mode, dtypes, flags, the names of
    torch's functions; state_guard.global_state) is as the test found it. Not the RNG: tests may use it."""
    before = global_state(rng=False)
    yield
    assert_same(before, global_state(rng=False), "torch's global state")


def pytest_configure(config):
    """The command line writes into a pipe at its own default width in every test, whatever $COLUMNS
    the shell running the suite has (pytest-xdist's workers set 80); a test that wants a width sets
    it. Done once per process, not in a fixture: a fixture holding monkeypatch would be set up
    before the state guard above (autouse fixtures run in name order) and undo its patches after it.
    Under pytest-xdist each worker also takes its share of the cores, not torch's default of all of
    them each."""
    os.environ.pop("COLUMNS", None)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def pytest_addoption(parser):
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite the golden outputs under tests/goldens/ from what the code prints now (review the diff)",
    )


@pytest.fixture
def golden(request):
    """``golden(name, text)``: the text must equal tests/goldens/NAME; with --update-goldens it is written there."""
    from pathlib import Path

    folder = Path(__file__).parent / "goldens"
    update = request.config.getoption("--update-goldens")

    def check(name: str, text: str) -> None:
        path = folder / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.is_file(), f"no golden output {name}: run pytest --update-goldens and review it"
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"{name} differs from its golden output (pytest --update-goldens rewrites it on purpose)"

    return check


@pytest.fixture
def tiny_llama_config(tmp_path):
    """``tiny_llama_config(name, **changes)``: the path of a two-layer Llama config.json (64 wide, 4
    heads, 2 key/value heads, vocabulary 1000, bf16) in a folder ``name`` of the test's tmp_path."""
    import json

    def write(name: str = "tiny", **changes: object) -> str:
        config = {**TINY_LLAMA, **changes}
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config))
        return str(folder / "config.json")

    return write


@pytest.fixture
def tiny_mixtral():
    """``tiny_mixtral(**options)``: an ``LLM`` of a two-layer Mixtral (64 wide, 4 heads, 2 key/value
    heads, 8 experts of width 96, 2 per token, vocabulary 1000, untied), built on meta."""
    from roofscope.llm import LLM, Preset

    config = dict(
        vocab_size=1000,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_local_experts=8,
        num_experts_per_tok=2,
        tie_word_embeddings=False,
    )
    return lambda **options: LLM(Preset("MixtralConfig", config), **options)
