import pytest
import torch


@pytest.fixture(autouse=True)
def _torch_state_is_left_alone():
    """Every test: no global module hooks left behind, and torch's global RNG untouched by analysis."""
    from torch.nn.modules import module as module_module

    before = (
        len(module_module._global_forward_pre_hooks),
        len(module_module._global_forward_hooks),
        torch.is_grad_enabled(),
    )
    yield
    after = (
        len(module_module._global_forward_pre_hooks),
        len(module_module._global_forward_hooks),
        torch.is_grad_enabled(),
    )
    assert after == before
