import pytest
import torch
import torch._dynamo  # noqa: F401 - torch imports it lazily the first time a mode runs, and the import

# rebinds torch.manual_seed once; imported here, it cannot look like an analysis patching torch.
from state_guard import assert_same, global_state


@pytest.fixture(autouse=True)
def _torch_state_is_left_alone():
    """Every test: torch's global state (modes, global hooks, grad mode, dtypes, flags, the names of
    torch's functions; state_guard.global_state) is as the test found it. Not the RNG: tests may use it."""
    before = global_state(rng=False)
    yield
    assert_same(before, global_state(rng=False), "torch's global state")


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
