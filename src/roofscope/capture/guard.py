"""The model's tensors and torch's random generators, put back as they were after a run."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["Guard", "RandomState"]


class Guard:
    """Keeps the model's tensors as they were: the forward may update them in place.

    Buffers are copied before the run (batch norm's running statistics are written by kernels whose
    schema does not say so: ``native_batch_norm``, ``cudnn_batch_norm``). Parameters, which can be
    large, are copied on write: the first time an op whose schema marks an argument written
    (``clamp_``, ``mul_``, ``copy_``, an ``out=``...) is about to write storage a parameter lives in,
    through the parameter, ``.data`` or a view. ``restore`` puts everything back. Meta tensors hold
    no values and are skipped.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.saved: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.owners: dict[int, list[torch.Tensor]] = {}
        for parameter in model.parameters():
            pointer = _storage_pointer(parameter)
            if pointer:
                self.owners.setdefault(pointer, []).append(parameter)
        with torch.no_grad():
            for buffer in model.buffers():
                if buffer.device.type != "meta":
                    self.saved.append((buffer, buffer.detach().clone()))

    def before_write(self, value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for item in value:
                self.before_write(item)
            return
        if not isinstance(value, torch.Tensor):
            return
        owners = self.owners.pop(_storage_pointer(value), None)
        if owners:
            # Outside every mode (the copy is neither recorded nor made fake), without autograd.
            with torch.utils._python_dispatch._disable_current_modes(), torch.no_grad():
                self.saved += [(owner, torch.ops.aten.clone.default(owner.detach())) for owner in owners]

    def restore(self) -> None:
        with torch.utils._python_dispatch._disable_current_modes(), torch.no_grad():
            for tensor, saved in reversed(self.saved):
                torch.ops.aten.copy_.default(tensor.detach(), saved)


_PLAIN_DISPATCH = torch.Tensor.__torch_dispatch__


def _storage_pointer(tensor: torch.Tensor) -> int:
    """The address of the storage a tensor views (0 when it has none: meta, empty, or a subclass with
    its own dispatch, such as a fake tensor, whose storage is not the model's)."""
    if tensor.device.type == "meta" or type(tensor).__torch_dispatch__ is not _PLAIN_DISPATCH:
        return 0
    try:
        return int(tensor.untyped_storage().data_ptr())
    except (RuntimeError, NotImplementedError, TypeError):
        return 0


class RandomState:
    """torch's global random generators as they were: a forward in training mode draws from them
    (dropout), building a model with random weights too, and an analysis must not change what the
    user's next random number is. Saved when made, put back by ``restore`` or at the end of a
    ``with`` block."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)

    def __enter__(self) -> RandomState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
