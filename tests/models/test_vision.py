"""torchvision's classification models against their published parameter counts and `_ops` (MACs,
in billions, at 3 decimals), and the same counts on cpu and meta, in eval and in train mode."""

import pytest
import torch

import roofscope

torchvision = pytest.importorskip("torchvision")
from torchvision.models import get_model, get_model_weights  # noqa: E402

MODELS = {
    "resnet18": 224,
    "resnet50": 224,
    "vgg16": 224,
    "mobilenet_v2": 224,
    "efficientnet_b0": 224,
    "convnext_tiny": 224,
    "vit_b_16": 224,
    "swin_t": 224,
    "inception_v3": 299,
}


def build(name: str, device: str = "cpu") -> torch.nn.Module:
    options = {"init_weights": False} if name == "inception_v3" else {}
    with torch.device(device):
        return get_model(name, weights=None, **options)


@pytest.mark.parametrize("name", MODELS)
def test_matches_published_params_and_ops(name):
    size = MODELS[name]
    meta = get_model_weights(name).DEFAULT.meta
    report = roofscope.analyze(build(name).eval(), (1, 3, size, size))
    assert report.params.total == meta["num_params"]
    assert round(report.total.macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-9)
    assert report.uncounted == {}


@pytest.mark.parametrize("name", ["resnet18", "vit_b_16", "swin_t", "efficientnet_b0"])
def test_same_counts_on_cpu_and_meta_in_eval_and_train(name):
    shape = (2, 3, MODELS[name], MODELS[name])
    reports = []
    for device in ("cpu", "meta"):
        for train in (False, True):
            model = build(name, device).train(train)
            reports.append((device, train, roofscope.analyze(model, shape)))
    for device, train, report in reports:
        same_mode = next(r for d, t, r in reports if d == "cpu" and t == train)
        assert report.total == same_mode.total, (device, train)
        assert report.total.macs == reports[0][2].total.macs


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("name", ["resnet18", "vit_b_16"])
def test_same_counts_on_cuda(name):
    shape = (2, 3, MODELS[name], MODELS[name])
    cpu = roofscope.analyze(build(name).eval(), shape)
    cuda = roofscope.analyze(build(name, "cuda").eval(), shape)
    assert cuda.total == cpu.total
