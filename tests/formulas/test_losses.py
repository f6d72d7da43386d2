"""Every loss module in torch.nn runs forward and backward without an uncounted op, except the three
whose kernels have no formula yet, which are reported as uncounted (never a silent zero).

Their hand counts are in test_by_hand.py; the formulas in src/roofscope/formulas/loss.py.
"""

import pytest
import torch
from torch import nn

import roofscope

N, C = 4, 5

#: Losses whose kernels roofscope has no formula for: each is reported, with how often it ran.
UNCOUNTED = {
    "CTCLoss": {"aten._ctc_loss": 1, "aten._ctc_loss_backward": 1},
    "MultiLabelMarginLoss": {"aten.multilabel_margin_loss_forward": 1, "aten.multilabel_margin_loss_backward": 1},
    "MultiMarginLoss": {"aten.multi_margin_loss": 1, "aten.multi_margin_loss_backward": 1},
}


class Scored(nn.Module):
    """``heads`` linear heads on one input, their outputs (prepared by ``prepare``) and the extra
    arguments fed to the loss."""

    def __init__(self, loss: nn.Module, heads: int = 1, prepare=lambda *outputs: outputs) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(C, C) for _ in range(heads))
        self.loss, self.prepare = loss, prepare

    def forward(self, x, *extra):
        return self.loss(*self.prepare(*(head(x) for head in self.heads)), *extra)


def case(name: str) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The loss module in a model, and the model's inputs."""
    torch.manual_seed(0)
    x = torch.rand(N, C)
    labels, probabilities = torch.randint(0, C, (N,)), torch.rand(N, C)
    signs = torch.randint(0, 2, (N,)) * 2.0 - 1
    log_probabilities = lambda a: (a.log_softmax(-1),)  # noqa: E731
    builders = {
        "L1Loss": lambda: (Scored(nn.L1Loss()), (probabilities,)),
        "NLLLoss": lambda: (Scored(nn.NLLLoss(), prepare=log_probabilities), (labels,)),
        # NLLLoss2d is deprecated for NLLLoss, which takes images the same way: [N, C, H, W] scores
        "NLLLoss2d": lambda: (Scored(nn.NLLLoss(), prepare=lambda a: (a.log_softmax(-1).view(N, C, 1, 1),)), (labels.view(N, 1, 1),)),
        "PoissonNLLLoss": lambda: (Scored(nn.PoissonNLLLoss()), (probabilities,)),
        "GaussianNLLLoss": lambda: (Scored(nn.GaussianNLLLoss()), (probabilities, torch.ones(N, C))),
        "KLDivLoss": lambda: (Scored(nn.KLDivLoss(reduction="batchmean"), prepare=log_probabilities), (probabilities.softmax(-1),)),
        "MSELoss": lambda: (Scored(nn.MSELoss()), (probabilities,)),
        "BCELoss": lambda: (Scored(nn.BCELoss(), prepare=lambda a: (a.sigmoid(),)), (probabilities,)),
        "BCEWithLogitsLoss": lambda: (Scored(nn.BCEWithLogitsLoss(pos_weight=torch.rand(C))), (probabilities,)),
        "HingeEmbeddingLoss": lambda: (Scored(nn.HingeEmbeddingLoss()), (torch.ones(N, C),)),
        "MultiLabelMarginLoss": lambda: (Scored(nn.MultiLabelMarginLoss()), (torch.tensor([[1, 2, -1, 0, 0]] * N),)),
        "SmoothL1Loss": lambda: (Scored(nn.SmoothL1Loss()), (probabilities,)),
        "HuberLoss": lambda: (Scored(nn.HuberLoss()), (probabilities,)),
        "SoftMarginLoss": lambda: (Scored(nn.SoftMarginLoss()), (torch.ones(N, C),)),
        "CrossEntropyLoss": lambda: (Scored(nn.CrossEntropyLoss(label_smoothing=0.1)), (labels,)),
        "LinearCrossEntropyLoss": lambda: (nn.LinearCrossEntropyLoss(C, 50), (torch.randint(0, 50, (N,)),)),
        "MultiLabelSoftMarginLoss": lambda: (Scored(nn.MultiLabelSoftMarginLoss()), (torch.randint(0, 2, (N, C)).float(),)),
        "CosineEmbeddingLoss": lambda: (Scored(nn.CosineEmbeddingLoss(), heads=2), (signs,)),
        "MarginRankingLoss": lambda: (Scored(nn.MarginRankingLoss(), heads=2, prepare=lambda a, b: (a[:, 0], b[:, 0])), (signs,)),
        "MultiMarginLoss": lambda: (Scored(nn.MultiMarginLoss()), (labels,)),
        "TripletMarginLoss": lambda: (Scored(nn.TripletMarginLoss(), heads=3), ()),
        "TripletMarginWithDistanceLoss": lambda: (Scored(nn.TripletMarginWithDistanceLoss(), heads=3), ()),
        "CTCLoss": lambda: (
            Scored(nn.CTCLoss(), prepare=lambda a: (a.log_softmax(-1).unsqueeze(1),)),
            (torch.tensor([[1, 2]]), torch.tensor([N]), torch.tensor([2])),
        ),
    }
    model, extra = builders[name]()
    return model, (x if name != "LinearCrossEntropyLoss" else torch.rand(N, C), *extra)


@pytest.mark.parametrize("name", nn.modules.loss.__all__)
def test_every_loss_module_is_counted_forward_and_backward(name):
    model, inputs = case(name)
    report = roofscope.analyze(model, inputs, backward=True)
    assert report.uncounted == UNCOUNTED.get(name, {})
    assert report.backward is not None and report.backward.cost.flops > 0
