"""The wheel and the sdist: what they hold, built from a copy of this checkout."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import roofscope

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "roofscope"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, sdist), built with ``python -m build`` (sdist first, the wheel from the sdist)."""
    work = tmp_path_factory.mktemp("dist")
    tree = work / "roofscope"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".*cache"))
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "out"), str(tree)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (work / "out").glob("*.whl")
    (sdist,) = (work / "out").glob("*.tar.gz")
    return wheel, sdist


def test_wheel_holds_the_package_its_data_and_metadata(built: tuple[Path, Path]) -> None:
    wheel, _ = built
    assert wheel.name == f"roofscope-{roofscope.__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {f"roofscope/{path.relative_to(SOURCE).as_posix()}" for path in SOURCE.rglob("*.py")}
    assert sources <= names, sorted(sources - names)
    for data in ("roofscope/py.typed", "roofscope/devices/catalog.toml", "roofscope/schema/report.schema.json"):
        assert data in names
    assert not any(name.startswith(("tests/", "bench/", "docs/")) for name in names)
    info = f"roofscope-{roofscope.__version__}.dist-info"
    metadata = email.message_from_bytes(zipfile.ZipFile(wheel).read(f"{info}/METADATA"))
    assert metadata["Version"] == roofscope.__version__  # one version, written once
    assert metadata["Requires-Python"] == ">=3.10"
    requires = metadata.get_all("Requires-Dist")
    assert "torch>=2.14" in requires and any(r.startswith("transformers<5.40,>=5.19") for r in requires)
    assert {"vision", "transformers", "plot", "timm"} <= set(metadata.get_all("Provides-Extra"))
    assert any(url.startswith("Source, https://") for url in metadata.get_all("Project-URL"))
    assert "Programming Language :: Python :: 3.10" in metadata.get_all("Classifier")
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "roofscope = roofscope.cli:main" in entry_points


def test_sdist_carries_the_test_suite_and_the_lock(built: tuple[Path, Path]) -> None:
    _, sdist = built
    prefix = f"roofscope-{roofscope.__version__}/"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(prefix) for name in archive.getnames()}
    tests = {f"tests/{path.relative_to(ROOT / 'tests').as_posix()}" for path in (ROOT / "tests").rglob("*.py")}
    assert {"tests/conftest.py", "tests/state_guard.py"} <= tests <= names, sorted(tests - names)
    assert {"LICENSE", "README.md", "pyproject.toml", "requirements.lock", "docs/conventions.md"} <= names


def test_readme_links_work_on_a_package_index_page() -> None:
    """PyPI shows the README without the repository around it: a relative link there is broken."""
    import re

    links = re.findall(r"\]\(([^)]+)\)", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert links
    assert all(link.startswith(("https://", "#")) for link in links), [link for link in links if not link.startswith(("https://", "#"))]
