"""The public names: every module says what it exports (``__all__``), lists every public class and
function it defines, and ``roofscope``'s own names resolve."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import roofscope

MODULES = sorted(info.name for info in pkgutil.walk_packages(roofscope.__path__, "roofscope.") if not info.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_every_public_definition(name: str) -> None:
    module = importlib.import_module(name)
    defined = {
        attribute
        for attribute, value in vars(module).items()
        if not attribute.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == name
    }
    exported = getattr(module, "__all__", None)
    if exported is None:
        assert not defined, f"{name} defines {sorted(defined)} but has no __all__"
        return
    assert set(exported) <= set(vars(module)) | set(getattr(module, "_EXPORTS", {})), f"{name}.__all__ names what it lacks"
    assert defined <= set(exported), f"{name}.__all__ misses {sorted(defined - set(exported))}"


def test_the_package_names_resolve() -> None:
    for name in roofscope.__all__:
        assert getattr(roofscope, name) is not None
    assert callable(roofscope.analyze) and callable(roofscope.measure) and callable(roofscope.probe) and callable(roofscope.devices)
    assert set(roofscope.__all__) <= set(dir(roofscope))
