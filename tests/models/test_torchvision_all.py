"""Every name of torchvision.models.list_models(): built without weights and without the network
(a socket guard refuses every connection), analysed on the meta device with its default input, and
nothing written to stdout. Detection models need tensor values in their post-processing, which meta
tensors do not have: they are counted up to there, with a one-line note saying so."""

from __future__ import annotations

import json
import socket

import pytest

import roofscope
from roofscope.models import resolve_on_meta
from roofscope.models.vision import torchvision_names

torchvision = pytest.importorskip("torchvision")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("the network is not to be used: a model was about to download something")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_the_guard_refuses_connections(no_network) -> None:
    with pytest.raises(OSError, match="network is not to be used"):
        socket.create_connection(("localhost", 9))


# Whose forward stops on meta at the first op that needs tensor values (nms, box selection).
DETECTION = {
    name for name in torchvision_names() if name.startswith(("fasterrcnn", "maskrcnn", "keypointrcnn", "retinanet", "fcos", "ssd"))
}


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
def test_every_torchvision_model_analyses_on_meta(no_network, capsys) -> None:
    names = torchvision_names()
    assert len(names) >= 121
    uncounted: dict[str, int] = {}
    for name in names:
        resolved = resolve_on_meta(name)
        report = roofscope.analyze(resolved.model, resolved.inputs, partial=True, name=name)
        uncounted[name] = sum(report.uncounted.values())
        assert report.total.macs > 0, name
        if name in DETECTION:
            assert len(report.notes) == 1 and report.notes[0].startswith("counted up to"), (name, report.notes)
        else:
            assert report.notes == (), (name, report.notes)
    assert capsys.readouterr().out == ""
    assert {name: calls for name, calls in uncounted.items() if calls} == {}


@pytest.mark.parametrize(
    ("name", "inputs"),
    [
        ("r3d_18", ["float32[1, 3, 16, 112, 112]"]),
        ("mvit_v2_s", ["float32[1, 3, 16, 224, 224]"]),
        ("raft_small", ["float32[1, 3, 520, 960]", "float32[1, 3, 520, 960]"]),
        ("vit_h_14", ["float32[1, 3, 224, 224]"]),
        ("efficientnet_b7", ["float32[1, 3, 600, 600]"]),
        ("fcn_resnet50", ["float32[1, 3, 520, 520]"]),
        ("ssd300_vgg16", ["[float32[3, 800, 800]]"]),
    ],
)
def test_default_inputs_of_each_kind(name: str, inputs: list[str], no_network) -> None:
    resolved = resolve_on_meta(name)
    assert roofscope.analyze(resolved.model, resolved.inputs, partial=True).inputs == inputs


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_detection_model_on_the_cpu_is_counted_whole_and_stdout_is_the_report(no_network, capsys) -> None:
    """Built on the CPU, its forward runs to the end: nms and roi_align are counted, no note; the
    command line's JSON is all that stdout holds."""
    from roofscope.cli import main

    assert main(["fasterrcnn_mobilenet_v3_large_320_fpn", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["uncounted"] == {} and data["notes"] == []
    assert {"torchvision.nms", "torchvision.roi_align"} <= {op["op"] for op in data["by_op"]}
