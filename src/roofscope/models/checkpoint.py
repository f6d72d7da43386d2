"""Files of weights: ``.pt2`` programs (read weights-only) and checkpoints (explained, refused).

A checkpoint (``.pt``, ``.pth``, ``.bin``, ``.ckpt``) is read with ``torch.load(weights_only=True)``
only, never with ``weights_only=False``: nothing in it is executed. It is refused with a message
saying what it holds and what to give instead, since it is either weights without the code that
defines the architecture (a state_dict), or a pickled module, which only arbitrary code could load.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import torch

from roofscope.models.spec import ModelSpecError, ResolvedModel

__all__ = ["CHECKPOINT_SUFFIXES", "from_checkpoint", "from_export"]


_INSTEAD = (
    "Give roofscope the model's code instead: file.py:Class or package.module:factory (weights do not "
    "change the counts: the model is built with random ones), or a .pt2 file saved by torch.export.save."
)
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


@contextlib.contextmanager
def _weights_only_loads() -> Iterator[None]:
    """Every ``torch.load`` in the block is weights-only, even one asking for weights_only=False
    (torch.export.load does, for pickled weights and as a fallback): torch's own switch, the
    TORCH_FORCE_WEIGHTS_ONLY_LOAD environment variable, set for the block and put back after it."""
    names = ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def from_export(path_text: str) -> ResolvedModel:
    path = Path(path_text)
    if not path.is_file():
        raise ModelSpecError(f"no such file: {path_text}")
    if not zipfile.is_zipfile(path):
        raise ModelSpecError(f"cannot read {path_text} as a .pt2 archive: it is not a zip file (torch.export.save writes one)")
    with zipfile.ZipFile(path) as archive:
        pickled = [n for n in archive.namelist() if "/constants/opaque_obj_" in n or "/constants/custom_obj_" in n]
    if pickled:
        raise ModelSpecError(
            f"{path_text} holds pickled Python objects ({', '.join(pickled[:3])}) that torch.export.load would "
            "unpickle with arbitrary code; roofscope refuses them. " + _INSTEAD.replace(", or a .pt2 file saved by torch.export.save", "")
        )
    try:
        with _weights_only_loads(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.load(str(path))
    except pickle.UnpicklingError as error:
        raise ModelSpecError(
            f"{path_text} holds data that only arbitrary code could load ({_unsupported_global(str(error)) or 'not weights only'}); "
            "roofscope reads .pt2 files with every torch.load weights-only, so it is refused as untrusted"
        ) from None
    except Exception as error:
        raise ModelSpecError(f"cannot load {path_text} with torch.export.load: {type(error).__name__}: {error}") from None
    inputs = None
    example = getattr(program, "example_inputs", None)
    if example is not None:
        args, kwargs = example
        inputs = dict(kwargs) if kwargs and not args else list(args)
    # unflatten, not program.module(): the module tree as it was exported, so that the report's
    # modules are the model's (module() keeps only the top level and adds a guard module)
    return ResolvedModel(path.stem, torch.export.unflatten(program), inputs)


def _unsupported_global(text: str) -> str | None:
    """The global torch's weights-only unpickler refused, as its message names it."""
    match = re.search(r"GLOBAL ([\w.]+)", text)
    if not match:
        return None
    return match.group(1) if "." in match.group(1) else f"builtins.{match.group(1)}"  # torch drops "builtins."


def _pickled_globals(path: Path, limit: int = 100_000) -> list[str]:
    """The globals (classes, functions) a pickle refers to, read with pickletools, which decodes
    opcodes without executing any; a torch.save archive's pickle is its ``data.pkl``. Those torch's
    weights-only unpickler allows (tensors, OrderedDict...) are left out. Best effort, for messages."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = [n for n in archive.namelist() if n.endswith("data.pkl")]
                data = archive.read(members[0]) if members else b""
        else:
            with open(path, "rb") as handle:
                data = handle.read(64 << 20)
    except (OSError, zipfile.BadZipFile, KeyError):
        return []
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals())
    except (ImportError, AttributeError):
        allowed = set()
    found: list[str] = []
    strings: list[str] = []  # recent string pushes, for STACK_GLOBAL's module and name
    memo: dict[int, str] = {}
    try:
        for count, (opcode, argument, _) in enumerate(pickletools.genops(data)):
            if count > limit or opcode.name == "STOP":
                break
            if isinstance(argument, str) and opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.append(argument)
            elif opcode.name == "MEMOIZE" and strings:
                memo[len(memo)] = strings[-1]
            elif opcode.name in ("BINGET", "LONG_BINGET", "GET") and argument in memo:
                strings.append(memo[argument])
            elif opcode.name in ("GLOBAL", "INST") and isinstance(argument, str):
                name = argument.replace(" ", ".").replace("__builtin__.", "builtins.")
                if name not in allowed and name not in found:
                    found.append(name)
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                name = f"{strings[-2]}.{strings[-1]}".replace("__builtin__.", "builtins.")
                if name not in allowed and name not in found:
                    found.append(name)
    except Exception:
        pass
    return found


def _is_tensor_mapping(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) > 0 and all(isinstance(v, torch.Tensor) for v in value.values())


def _describe_tensors(mapping: Mapping[str, torch.Tensor]) -> str:
    values = sum(tensor.numel() for tensor in mapping.values())
    return f"{len(mapping):,} tensors, {values:,} values"


def from_checkpoint(path_text: str) -> NoReturn:
    """Read a checkpoint weights-only, and say why it cannot be analysed and what to give instead."""
    path = Path(path_text)
    if not path.is_file():
        raise ModelSpecError(f"no such file: {path_text}" + (" (it is a folder)" if path.is_dir() else ""))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("constants.pkl") for name in archive.namelist()):
                raise ModelSpecError(
                    f"{path_text} is a TorchScript archive (torch.jit.save): roofscope analyses eager nn.Modules "
                    f"and does not load TorchScript. {_INSTEAD}"
                )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            content = torch.load(path, map_location="meta", weights_only=True)
    except pickle.UnpicklingError as error:
        names = _pickled_globals(path)
        refused = _unsupported_global(str(error))
        if refused and not names:
            names = [refused]
        if "Weights only load failed" in str(error) and names:
            raise ModelSpecError(
                f"{path_text} is an untrusted pickle: it is not weights only, and loading it would run code it names "
                f"({', '.join(names[:4])}), so torch.load(weights_only=True) refuses it, and roofscope never loads with "
                f"weights_only=False (that runs arbitrary code). A whole model saved with torch.save(model) is such a "
                f"file. {_INSTEAD}"
            ) from None
        raise ModelSpecError(
            f"cannot read {path_text} as a PyTorch checkpoint: it is neither a torch.save archive nor a pickle of tensors"
        ) from None
    except Exception as error:
        reason = f"{type(error).__name__}: {error}" if str(error) else f"{type(error).__name__} (the file is empty or truncated)"
        raise ModelSpecError(f"cannot read {path_text} as a PyTorch checkpoint: {reason}") from None
    hugging_face = " (A Hugging Face checkpoint: give the config.json beside it.)" if path.suffix == ".bin" else ""
    if _is_tensor_mapping(content):
        raise ModelSpecError(
            f"{path_text} holds a state_dict ({_describe_tensors(content)}): weights, but no architecture, so "
            f"roofscope cannot tell which operations the model runs. {_INSTEAD}{hugging_face}"
        )
    if isinstance(content, Mapping):
        for key, value in content.items():
            if _is_tensor_mapping(value):
                keys = ", ".join(map(str, list(content)[:6]))
                raise ModelSpecError(
                    f"{path_text} is a training checkpoint (keys: {keys}) whose {key!r} is a state_dict "
                    f"({_describe_tensors(value)}): weights, but no architecture. {_INSTEAD}"
                )
    what = f"a tensor of shape {tuple(content.shape)}" if isinstance(content, torch.Tensor) else f"a {type(content).__name__}"
    raise ModelSpecError(f"{path_text} holds {what}, not a model: there is no architecture in it. {_INSTEAD}")
