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
