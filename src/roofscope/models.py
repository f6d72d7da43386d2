"""Resolve a model named on the command line, and the inputs it takes by default.

Forms:
- a built-in example (``seed-conv``);
- a transformer preset (``llama-2-7b``, see ``roofscope.llm.presets``) or a local Hugging Face
  ``config.json`` path, built on the meta device;
- a torchvision model (``resnet50`` or ``torchvision:resnet50``);
- a timm model (``timm:resnet50``), when timm is installed;
- ``package.module:factory``: a function called with no arguments, or an ``nn.Module`` class;
- ``path/to/file.py:ClassOrFactory``: the same, from a Python file;
- ``path/to/model.pt2``: a program saved by ``torch.export.save`` (its example inputs by default).

A checkpoint (``.pt``, ``.pth``, ``.bin``, ``.ckpt``) is read with ``torch.load(weights_only=True)``
only, never with ``weights_only=False``: nothing in it is executed. It is refused with a message
saying what it holds and what to give instead, since it is either weights without the code that
defines the architecture (a state_dict), or a pickled module, which only arbitrary code could load.

Weights are never downloaded: models are built with random weights. A model object (or its
class, or the factory) may say which inputs it takes with an ``example_inputs`` attribute (a shape,
a tuple of shapes, or a callable returning one); otherwise the caller must give inputs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import importlib.util
import os
import pickle
import pickletools
import re
import sys
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import torch

from roofscope.examples import EXAMPLES
from roofscope.extras import require
from roofscope.inputs import TensorSpec, replace_dims


class ModelSpecError(ValueError):
    """The model name cannot be resolved; the message lists the closest names."""


@dataclasses.dataclass
class ResolvedModel:
    name: str
    model: torch.nn.Module
    inputs: Any
    preset: Any = None  # the roofscope.llm.presets.Preset of a transformer preset or config.json


def _torchvision_names() -> list[str]:
    try:
        from torchvision.models import list_models
    except ImportError:
        return []
    return sorted(list_models())


def _torchvision_input(name: str) -> tuple[int, ...]:
    from torchvision.models import get_model_weights

    try:
        crop = get_model_weights(name).DEFAULT.transforms().crop_size[0]
    except (ValueError, AttributeError, IndexError):
        crop = 224
    return (1, 3, crop, crop)


def _default_inputs(*owners: Any) -> Any:
    """Inputs declared by a model, its class or its factory (``example_inputs``), else a built-in
    example's shapes when the class is one of them, else None."""
    for owner in owners:
        value = getattr(owner, "example_inputs", None)
        if value is not None:
            return value() if callable(value) else value
    for factory, shapes in EXAMPLES.values():
        if any(owner is factory for owner in owners):
            return shapes
    return None


def _build(target: Any, spec: str) -> tuple[torch.nn.Module, Any]:
    if isinstance(target, torch.nn.Module):
        return target, _default_inputs(target)
    if not callable(target):
        raise ModelSpecError(f"{spec!r} names a {type(target).__name__}, not an nn.Module, a class or a factory")
    try:
        model = target()
    except TypeError as error:
        raise ModelSpecError(f"{spec!r} could not be called with no arguments: {error}") from None
    except Exception as error:  # noqa: BLE001 - the user's constructor failed: say so, without a traceback
        raise ModelSpecError(f"building {spec!r} failed: {type(error).__name__}: {error}") from None
    if not isinstance(model, torch.nn.Module):
        raise ModelSpecError(f"{spec!r} returned a {type(model).__name__}, not an nn.Module")
    return model, _default_inputs(model, target)


def _attribute(namespace: Any, attribute: str, where: str) -> Any:
    value = namespace
    for part in attribute.split("."):
        if not hasattr(value, part):
            names = [n for n in dir(namespace) if not n.startswith("_")]
            close = difflib.get_close_matches(attribute, names, n=4, cutoff=0.5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ModelSpecError(f"{where} has no attribute {attribute!r}.{hint}")
        value = getattr(value, part)
    return value


def _from_file(path_text: str, attribute: str, spec: str) -> ResolvedModel:
    path = Path(path_text)
    if not path.is_file():
        raise ModelSpecError(f"no such file: {path_text}")
    name = f"_roofscope_user_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ModelSpecError(f"cannot import {path_text} as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        try:
            module_spec.loader.exec_module(module)
        except (Exception, SystemExit) as error:  # noqa: BLE001 - the user's file failed to import
            raise ModelSpecError(f"importing {path_text} failed: {_error_text(error)}") from None
        model, inputs = _build(_attribute(module, attribute, path_text), spec)
    except ModelSpecError:
        sys.modules.pop(name, None)  # nothing of a failed import is left behind
        raise
    return ResolvedModel(f"{path.stem}:{attribute}", model.eval(), inputs)


def _from_module(module_name: str, attribute: str, spec: str) -> ResolvedModel:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelSpecError(f"cannot import {module_name!r} for {spec!r}: {error}") from None
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the user's module failed to import
        raise ModelSpecError(f"importing {module_name!r} for {spec!r} failed: {_error_text(error)}") from None
    model, inputs = _build(_attribute(module, attribute, f"module {module_name!r}"), spec)
    return ResolvedModel(attribute.rsplit(".", 1)[-1], model.eval(), inputs)


def _error_text(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"it called sys.exit({error.code!r})"
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} (line {error.lineno})"
    return f"{type(error).__name__}: {error}"


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


def _from_export(path_text: str) -> ResolvedModel:
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
    except Exception as error:  # noqa: BLE001 - any failure to read the archive is the user's to fix
        raise ModelSpecError(f"cannot load {path_text} with torch.export.load: {type(error).__name__}: {error}") from None
    inputs = None
    example = getattr(program, "example_inputs", None)
    if example is not None:
        args, kwargs = example
        inputs = dict(kwargs) if kwargs and not args else list(args)
    return ResolvedModel(path.stem, program.module(), inputs)


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
    except Exception:  # noqa: BLE001 - a truncated or corrupt pickle: what was found so far
        pass
    return found


def _is_tensor_mapping(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) > 0 and all(isinstance(v, torch.Tensor) for v in value.values())


def _describe_tensors(mapping: Mapping[str, torch.Tensor]) -> str:
    values = sum(tensor.numel() for tensor in mapping.values())
    return f"{len(mapping):,} tensors, {values:,} values"


def _from_checkpoint(path_text: str) -> NoReturn:
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
        raise ModelSpecError(f"cannot read {path_text} as a PyTorch checkpoint: it is neither a torch.save archive nor a pickle of tensors") from None
    except Exception as error:  # noqa: BLE001 - a truncated or corrupt file: say so, without a traceback
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


def _from_timm(name: str) -> ResolvedModel:
    timm = require("timm", f"timm:{name}")
    if name not in timm.list_models():
        close = difflib.get_close_matches(name, timm.list_models(), n=4, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ModelSpecError(f"unknown timm model {name!r}.{hint}")
    model = timm.create_model(name, pretrained=False).eval()
    size = model.pretrained_cfg.get("input_size", (3, 224, 224)) if hasattr(model, "pretrained_cfg") else (3, 224, 224)
    return ResolvedModel(f"timm:{name}", model, (1, *size))


def _transformer(spec: str, batch: int | None, seq_len: int | None) -> ResolvedModel | None:
    from roofscope.llm.presets import build, is_config_path, lookup, preset_from_config_file

    preset = lookup(spec)
    if preset is None and is_config_path(spec):
        preset = preset_from_config_file(spec)
    if preset is None:
        return None
    model = build(preset)
    batch = batch or 1
    if preset.head == "image-classification":
        size = int(getattr(model.config, "image_size", 224))
        return ResolvedModel(spec, model, {"pixel_values": TensorSpec((batch, 3, size, size), preset.dtype)}, preset)
    if seq_len is None:
        seq_len = min(int(getattr(model.config, "max_position_embeddings", 0) or 512), 2048)
    vocab = int(getattr(model.config, "vocab_size", 2))
    inputs: dict[str, Any] = {"input_ids": TensorSpec((batch, seq_len), torch.long, 0, vocab)}
    if preset.head == "causal-lm":
        inputs["use_cache"] = True  # the prompt's keys and values are kept, as in generation (prefill)
    return ResolvedModel(spec, model, inputs, preset)


def resolve(spec: str, *, batch: int | None = None, seq_len: int | None = None) -> ResolvedModel:
    """The model named ``spec`` and its default inputs. ``batch`` sizes the inputs of any named model
    (the first dimension); ``seq_len`` the token count of a transformer preset."""
    transformer = _transformer(spec, batch, seq_len)
    if transformer is not None:
        return transformer
    if seq_len is not None:
        raise ModelSpecError(f"seq_len sizes the inputs of a transformer preset or config.json; {spec!r} is neither")
    resolved = _resolve_module(spec)
    if batch is not None and resolved.inputs is not None:
        resolved.inputs = replace_dims(resolved.inputs, batch=batch)
    return resolved


def _resolve_module(spec: str) -> ResolvedModel:
    if spec in EXAMPLES:
        factory, shapes = EXAMPLES[spec]
        return ResolvedModel(spec, factory().eval(), shapes)
    if spec.startswith("timm:"):
        return _from_timm(spec.removeprefix("timm:"))
    if spec.endswith(".pt2"):
        return _from_export(spec)
    if spec.lower().endswith(CHECKPOINT_SUFFIXES):
        _from_checkpoint(spec)
    if not spec.startswith("torchvision:") and ":" in spec:
        target, _, attribute = spec.rpartition(":")
        if not attribute:
            raise ModelSpecError(f"{spec!r}: name the class or factory after the colon, e.g. models.py:MyNet")
        if target.endswith(".py"):
            return _from_file(target, attribute, spec)
        return _from_module(target, attribute, spec)
    name = spec.removeprefix("torchvision:")
    names = _torchvision_names()
    if name in names:
        from torchvision.models import get_model

        options: dict[str, Any] = {"weights": None}
        if name in ("inception_v3", "googlenet"):
            options["init_weights"] = False  # scipy-based truncated-normal init is slow and unneeded
        return ResolvedModel(name, get_model(name, **options).eval(), _torchvision_input(name))
    from roofscope.llm.presets import preset_names

    candidates = list(EXAMPLES) + preset_names() + names
    close = difflib.get_close_matches(name, candidates, n=4, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    if not names:
        hint += " torchvision is not installed, so its models are unknown: pip install 'roofscope[vision]'."
    hint += " Other forms: timm:NAME, package.module:factory, file.py:Class, model.pt2."
    if spec.endswith(".py") and Path(spec).is_file():
        hint = f" Name the class or factory in it after a colon: {spec}:ClassName.{hint}"
    elif Path(spec).is_file():
        hint = f" It is a file, but none roofscope reads (file.py:Class, model.pt2, a config.json, or a .pt/.pth/.bin/.ckpt checkpoint).{hint}"
    raise ModelSpecError(f"unknown model {spec!r}.{hint}")
