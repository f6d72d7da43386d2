"""Small models whose costs are worked out by hand (in the articles on FLOPs, MACs and the roofline
that roofscope's conventions follow), as models; the CLI's built-in examples."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SimpleAttentionBlock", "SimpleConv", "SimpleLinearModel"]


class SimpleLinearModel(nn.Module):
    """Three bias-free linear layers 10 -> 20 -> 15 -> 1: 515 MACs."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(10, 20, bias=False)
        self.fc2 = nn.Linear(20, 15, bias=False)
        self.fc3 = nn.Linear(15, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class SimpleConv(nn.Module):
    """Two 3x3 convolutions and a linear layer on 28x28 images: 3,976,448 MACs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, stride=1, padding=1)
        self.fc = nn.Linear(32 * 28 * 28, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.fc(x.view(x.shape[0], -1))


class SimpleAttentionBlock(nn.Module):
    """Self-attention written with functional matmuls: 2,672,640 MACs at embed 256, 8 heads,
    batch 1, length 10."""

    def __init__(self, embed_size: int = 256, heads: int = 8) -> None:
        super().__init__()
        self.embed_size = embed_size
        self.heads = heads
        self.head_dim = embed_size // heads
        if self.head_dim * heads != embed_size:
            raise ValueError("embed_size must be divisible by heads")
        self.values = nn.Linear(embed_size, embed_size, bias=False)
        self.keys = nn.Linear(embed_size, embed_size, bias=False)
        self.queries = nn.Linear(embed_size, embed_size, bias=False)
        self.fc_out = nn.Linear(heads * self.head_dim, embed_size)

    def forward(self, values: torch.Tensor, keys: torch.Tensor, queries: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        batch = queries.shape[0]
        value_len, key_len, query_len = values.shape[1], keys.shape[1], queries.shape[1]
        values = self.values(values).reshape(batch, self.heads, value_len, self.head_dim)
        keys = self.keys(keys).reshape(batch, self.heads, key_len, self.head_dim)
        queries = self.queries(queries).reshape(batch, self.heads, query_len, self.head_dim)
        energy = torch.matmul(queries, keys.transpose(-2, -1))
        if mask is not None:
            energy = energy.masked_fill(mask == 0, float("-1e20"))
        attention = torch.softmax(energy, dim=3)
        out = torch.matmul(attention, values).reshape(batch, query_len, self.heads * self.head_dim)
        return self.fc_out(out)


EXAMPLES: dict[str, tuple[type[nn.Module], tuple[tuple[int, ...], ...]]] = {
    "seed-linear": (SimpleLinearModel, ((1, 10),)),
    "seed-conv": (SimpleConv, ((1, 1, 28, 28),)),
    "seed-attention": (SimpleAttentionBlock, ((1, 10, 256), (1, 10, 256), (1, 10, 256))),
}
