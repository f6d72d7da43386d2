"""The four counted quantities of one op, a module, or a model."""

from __future__ import annotations

import dataclasses

__all__ = ["Cost"]


@dataclasses.dataclass(frozen=True, slots=True)
class Cost:
    """MACs, FLOPs and memory traffic, all exact integers.

    ``macs`` counts multiply-accumulates of matmul-class ops only; ``flops`` counts every
    floating-point operation, two per MAC plus everything else (docs/conventions.md).
    """

    macs: int = 0
    flops: int = 0
    bytes_read: int = 0
    bytes_written: int = 0

    @property
    def matmul_flops(self) -> int:
        """Two FLOPs per MAC: the figure ``torch.utils.flop_counter`` reports."""
        return 2 * self.macs

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved; 0.0 for an op that moves nothing."""
        return self.flops / self.bytes if self.bytes else 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.macs + other.macs,
            self.flops + other.flops,
            self.bytes_read + other.bytes_read,
            self.bytes_written + other.bytes_written,
        )

    def scaled(self, factor: int) -> Cost:
        return Cost(self.macs * factor, self.flops * factor, self.bytes_read * factor, self.bytes_written * factor)

    def to_dict(self) -> dict[str, int]:
        return {
            "macs": self.macs,
            "flops": self.flops,
            "matmul_flops": self.matmul_flops,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
        }


ZERO = Cost()
