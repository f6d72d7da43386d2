"""Which precision fp32 math really runs in: torch's TF32 flags, read when a prediction is made.

On NVIDIA GPUs from Ampere on, an fp32 convolution runs on the tensor cores in TF32 when cuDNN
allows it (torch's default), and an fp32 matmul does only when torch is told so
(``torch.backends.cuda.matmul.fp32_precision = "tf32"``, ``allow_tf32 = True`` or
``torch.set_float32_matmul_precision("high")``). Either can be given instead of read.
"""

from __future__ import annotations

import dataclasses

__all__ = ["MathFlags"]


@dataclasses.dataclass(frozen=True)
class MathFlags:
    """``conv_tf32``: fp32 convolutions run in TF32; ``matmul_tf32``: fp32 matmuls (and attention's
    products) do. They apply on a device with a TF32 matrix rate only."""

    conv_tf32: bool
    matmul_tf32: bool

    @classmethod
    def from_torch(cls) -> MathFlags:
        """The flags as torch has them now (its defaults: convolutions TF32, matmuls not)."""
        import torch

        return cls(
            conv_tf32=_tf32(getattr(torch.backends.cudnn, "conv", None), torch.backends.cudnn, default=True),
            matmul_tf32=_tf32(torch.backends.cuda.matmul, torch.backends.cuda.matmul, default=False),
        )

    @classmethod
    def of(cls, value: bool | MathFlags | None) -> MathFlags:
        """``None``: torch's flags now; ``True``/``False``: both on or off; a MathFlags as it is."""
        if isinstance(value, MathFlags):
            return value
        if value is None:
            return cls.from_torch()
        return cls(conv_tf32=bool(value), matmul_tf32=bool(value))

    def to_dict(self) -> dict[str, bool]:
        return dataclasses.asdict(self)


def _tf32(backend: object, legacy: object, *, default: bool) -> bool:
    """A backend's fp32 precision by the new API ("tf32" / "ieee"), else by the legacy
    ``allow_tf32`` (reading it after the new API set the other is an error in torch)."""
    precision = getattr(backend, "fp32_precision", None)
    if precision in ("tf32", "ieee"):
        return precision == "tf32"
    try:
        return bool(getattr(legacy, "allow_tf32", default))
    except RuntimeError:  # a mix of the two APIs
        return default
