"""The JSON report against its published schema (src/roofscope/schema/report.schema.json)."""

from __future__ import annotations

import copy
import importlib.resources
import json

import jsonschema
import pytest
import torch
from torch import nn

import roofscope


@pytest.fixture(scope="module")
def validator():
    schema = json.loads((importlib.resources.files("roofscope") / "schema" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


class _Unknown(nn.Module):
    def forward(self, x):
        return torch.linalg.cholesky_ex(x @ x.mT + torch.eye(x.shape[-1]))[0]


def _reports():
    block = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True).eval()
    return {
        "plain": roofscope.analyze("seed-conv"),
        "device and precision": roofscope.analyze("seed-conv", device="h100", dtype="bf16"),
        "attention": roofscope.analyze(block, (2, 8, 32), device="a100-80gb"),
        "backward": roofscope.analyze(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)), (4, 8), backward=True, device="h100"),
        "uncounted": roofscope.analyze(_Unknown(), (3, 3)),
        "measured": roofscope.measure(nn.Sequential(nn.Linear(16, 16), nn.ReLU()).eval(), (4, 16), device="cpu", repeats=2, warmup=0),
    }


@pytest.fixture(scope="module")
def documents():
    return {name: json.loads(json.dumps(report.to_dict())) for name, report in _reports().items()}


def test_every_report_kind_matches_the_schema(validator, documents):
    for name, document in documents.items():
        errors = sorted(validator.iter_errors(document), key=str)
        assert not errors, f"{name}: {errors[0].message} at {list(errors[0].absolute_path)}"
    assert documents["uncounted"]["uncounted"] == {"aten.linalg_cholesky_ex": 1}
    assert set(documents["backward"]["phases"]) == {"forward", "backward"}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("total", "macs"), 1.5),  # counts are integers
        (("total", "flops"), -1),
        (("ops", 0, "phase"), "sideways"),
        (("modules",), []),
        (("params", "total"), "11.7M"),
    ],
)
def test_the_schema_rejects_a_broken_report(validator, documents, path, value):
    document = copy.deepcopy(documents["device and precision"])
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert not validator.is_valid(document)


def test_a_missing_key_is_rejected(validator, documents):
    document = copy.deepcopy(documents["plain"])
    del document["ops"][0]["cost"]
    assert not validator.is_valid(document)


def test_from_dict_reads_back_every_report_kind(documents):
    """Report.from_dict(d).to_dict() == d: the records and the tree come back, every aggregate is
    recomputed from them and comes out the same."""
    for name, document in documents.items():
        again = roofscope.Report.from_dict(document)
        assert json.loads(json.dumps(again.to_dict())) == document, name
    measured = roofscope.Report.from_dict(documents["measured"])
    assert measured.total.measured_s == documents["measured"]["total"]["measured_s"]
    assert measured.measurement is not None and measured.measurement.repeats == 2
    backward = roofscope.Report.from_dict(documents["backward"])
    assert backward.backward_forward_ratio == documents["backward"]["backward_forward_flops_ratio"]


def test_a_report_is_not_changed_by_adding_measured_figures():
    """with_measured returns a new report; the one it came from keeps its figures."""
    report = roofscope.analyze(nn.Sequential(nn.Linear(4, 4)), (2, 4), device="h100")
    before = json.dumps(report.to_dict())
    measured = report.with_measured([[1e-3, 2e-3]] * len(report.ops), _measurement())
    assert json.dumps(report.to_dict()) == before
    assert report.total.measured_s is None and measured.total.measured_s == pytest.approx(1.5e-3 * len(report.ops))
    assert measured.measurement.ops_s == pytest.approx(measured.total.measured_s)


def _measurement():
    from roofscope.measured import Measurement

    return Measurement(
        device="cpu",
        clock="test",
        repeats=2,
        warmup=0,
        forward_s=1e-2,
        forward_min_s=1e-2,
        forward_max_s=1e-2,
        timed_s=1e-2,
        ops_s=None,
        matched=True,
    )
