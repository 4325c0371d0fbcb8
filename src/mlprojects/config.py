"""Typed run configurations: dataclasses whose defaults are the published settings.

Values arrive as ``--set key=value`` strings or YAML scalars and lists; :func:`resolve` coerces them
to each field's declared type, checks them in ``__post_init__``, and turns every mistake into one
:class:`~mlprojects.errors.UserError` line that names the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mlprojects.errors import UserError

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "ftrl")
SCHEDULES = ("constant", "step", "exponential", "cosine")


_BOUNDS = ("gt", "ge", "lt", "min_length", "max_length")


def setting(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with help text (shown by ``mlprojects run PROJECT --settings``) and its bounds, as
    pydantic's ``Field`` names them: ``gt``, ``ge``, ``lt`` (for a tuple, each of its numbers), ``min_length`` and
    ``max_length`` (a tuple's). None is always allowed. A subclass that declares the field again, to change its
    default, keeps its parent's bounds."""
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    limits = {key: value for key in _BOUNDS if (value := kwargs.pop(key, None)) is not None}
    return field(default=default, metadata={"help": help, **limits}, **kwargs)


def bounds(config_class: type) -> dict[str, dict[str, float]]:
    """Each bounded setting's bounds: the nearest declaration that gives some."""
    found: dict[str, dict[str, float]] = {}
    for cls in reversed(config_class.__mro__):
        for f in getattr(cls, "__dataclass_fields__", {}).values():
            given = {key: f.metadata[key] for key in _BOUNDS if key in f.metadata}
            if given:
                found[f.name] = given
    return found


def allowed(limits: dict[str, float]) -> str:
    """Bounds for people: "greater than 0", "0 or more", "in [0, 1)"; a tuple's: "1 to 4 values, each ..."."""
    gt, ge, lt = limits.get("gt"), limits.get("ge"), limits.get("lt")
    low = gt if gt is not None else ge
    if lt is not None:
        text = f"in {'(' if gt is not None else '['}{low:g}, {lt:g})" if low is not None else f"less than {lt:g}"
    else:
        text = "" if low is None else f"greater than {gt:g}" if gt is not None else f"{ge:g} or more"
    count, most = limits.get("min_length", 0), limits.get("max_length")
    count = f"{count} to {most} values" if most else f"{count} or more values" if count else ""
    return ", each ".join(part for part in (count, text) if part)


def check_bounds(cfg: Any) -> None:
    """A ValueError naming the first setting of CFG outside its bounds."""
    def within(value: Any, gt=None, ge=None, lt=None, min_length=0, max_length=None) -> bool:
        if isinstance(value, tuple):
            return min_length <= len(value) <= (max_length or len(value)) and all(within(v, gt, ge, lt) for v in value)
        return (gt is None or value > gt) and (ge is None or value >= ge) and (lt is None or value < lt)

    for name, limits in bounds(type(cfg)).items():
        value = getattr(cfg, name)
        if value is not None and not within(value, **limits):
            shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
            raise ValueError(f"{name}={shown}: must be {allowed(limits)}")


@dataclass
class ProjectConfig:
    """The one setting every project has; estimator projects (k-means, regressions) add their own. Every setting's
    bounds (:func:`setting`) are checked here, for every subclass."""

    seed: int = setting(42, "one seed for data, splits, initialisation and shuffling", ge=0)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass
class TrainConfig(ProjectConfig):
    """Settings every trained project shares: the engine reads these, the project adds its own."""

    epochs: int = setting(10, "passes over the training data", gt=0)
    batch_size: int = setting(32, "global batch size (split across processes under torchrun)", gt=0)
    optimizer: Literal[OPTIMIZERS] = setting("sgd", "optimizer: " + ", ".join(OPTIMIZERS))
    lr: float = setting(0.01, "learning rate", gt=0)
    momentum: float = setting(0.9, "momentum for optimizer=momentum (and rmsprop)", ge=0)
    weight_decay: float = setting(0.0, "L2 penalty added by the optimizer", ge=0)
    lr_schedule: Literal[SCHEDULES] = setting("constant", "per-epoch schedule: " + ", ".join(SCHEDULES))
    lr_step: int = setting(5, "lr_schedule=step: epochs between decays", gt=0)
    lr_gamma: float = setting(0.5, "lr_schedule=step|exponential: decay factor", gt=0)
    val_fraction: float = setting(0.0, "fraction of the training split held out for validation", ge=0, lt=1)
    early_stopping: int = setting(0, "stop after this many epochs without improvement (0: off)", ge=0)
    grad_clip: float = setting(0.0, "clip the gradients' global norm to this before each step (0: off)", ge=0)
    precision: Literal["fp32", "bf16", "fp16", "auto"] = setting(
        "fp32", "bf16 (or fp16 on a GPU, with a gradient scaler) runs the forward pass under autocast; auto: bf16 "
                "where the device and the model gain from it (one line says which)")
    compile: bool = setting(False, "torch.compile the model")
    eval_batch_size: int = setting(1000, "batch size for evaluation and prediction", gt=0)
    histograms: bool = setting(False, "write weight and gradient histograms to TensorBoard every epoch")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.early_stopping and not self.val_fraction:
            raise ValueError("early_stopping needs a validation split: also set val_fraction, e.g. 0.1")


# --- coercion ---------------------------------------------------------------------------------

_BOOLS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def _parse_int_tuple(text: str) -> tuple[int, ...]:
    """``256,256`` or ``256-128`` or ``256x4`` (four layers of 256) or ``128x2-64``."""
    parts: list[int] = []
    for token in re.split(r"[,\s]+", text.strip().strip("[]()")):
        if not token:
            continue
        # '-' separates widths (the sweep spelling 128-64-32); a leading '-' is a sign
        chunks = token.split("-") if re.fullmatch(r"\d+(x\d+)?(-\d+(x\d+)?)+", token) else [token]
        for chunk in chunks:
            width, _, times = chunk.partition("x")
            parts.extend([int(width)] * (int(times) if times else 1))
    return tuple(parts)


def coerce(name: str, annotation: Any, value: Any) -> Any:
    """Turn a string (from ``--set``) or a YAML value into the field's type, or raise UserError."""
    origin = typing.get_origin(annotation)
    try:
        if origin is Literal:
            allowed = typing.get_args(annotation)
            if isinstance(allowed[0], tuple):  # Literal[SOME_TUPLE]
                allowed = allowed[0]
            if value not in allowed:
                raise UserError(_bad(name, value, "one of " + ", ".join(map(str, allowed))))
            return value
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
                return None
            return coerce(name, args[0], value)
        if origin is tuple:
            item_type = typing.get_args(annotation)[0]
            if isinstance(value, str):
                items = (_parse_int_tuple(value) if item_type is int
                         else [v for v in re.split(r"[,\s]+", value.strip("[]() ")) if v])
            else:
                items = value
            if isinstance(items, (int, float, str)):
                items = [items]
            result = tuple(coerce(name, item_type, item) for item in items)
            if not result:
                raise UserError(_bad(name, value, "a non-empty list"))
            return result
        if annotation is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in _BOOLS:
                return _BOOLS[str(value).lower()]
            raise UserError(_bad(name, value, "true or false"))
        if annotation is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if annotation is float:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):
                raise UserError(_bad(name, value, "a finite number"))
            return number
        if annotation is str:
            return str(value)
    except (ValueError, TypeError):
        kind = {int: "an integer", float: "a number", tuple: "a list of integers like 256,256"}
        raise UserError(_bad(name, value, kind.get(origin or annotation, str(annotation)))) from None
    raise TypeError(f"setting {name}: unsupported type {annotation!r}")


def _bad(name: str, value: Any, allowed: str) -> str:
    return f"setting {name}={value!r} is not valid: expected {allowed}"


# --- resolution -------------------------------------------------------------------------------


def known_keys(config_class: type) -> dict[str, Any]:
    hints = typing.get_type_hints(config_class, include_extras=False)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class)}


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; ``optimizer=adam lr=0.001`` in one item works too."""
    result: dict[str, str] = {}
    for pair in pairs:
        for item in pair.split() if " " in pair and pair.count("=") > 1 else [pair]:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. --set epochs=5")
            result[key.strip()] = value.strip()
    return result


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise UserError(f"config file {path} is not UTF-8 text (a YAML file of setting: value)") from None
    except yaml.YAMLError as error:
        raise UserError(f"config file {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must be a mapping of setting: value")
    return data


def resolve(config_class: type, *layers: dict[str, Any]) -> Any:
    """Defaults, then each layer of overrides in turn (YAML file, then ``--set``), checked.

    A config class may define ``PRESETS = {name: {setting: value}}`` and a ``preset`` setting: the
    chosen preset's values replace the defaults, and explicit settings still win over them; and
    ``RENAMED = {old: new}``, so that the old name of a setting (in a saved run, a script) still works.
    """
    keys, renamed = known_keys(config_class), getattr(config_class, "RENAMED", {})
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            key = renamed.get(key, key)  # a setting's old name, in a run saved before it was renamed
            if key not in keys:
                close = difflib.get_close_matches(key, keys, n=3, cutoff=0.4)
                hint = f"did you mean {', '.join(close)}?" if close else "known: " + ", ".join(keys)
                raise UserError(f"unknown setting {key!r}: {hint}")
            values[key] = coerce(key, keys[key], value)
    presets = getattr(config_class, "PRESETS", {})
    if values.get("preset") in presets:  # a preset's values, under anything given explicitly
        values = {**{k: coerce(k, keys[k], v) for k, v in presets[values["preset"]].items()}, **values}
    try:
        return config_class(**values)
    except ValueError as error:
        raise UserError(f"invalid settings: {error}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def describe(config_class: type) -> list[tuple[str, str, Any, str]]:
    """(name, type and bounds, default, help) for every setting."""
    keys, limits = known_keys(config_class), bounds(config_class)
    rows = []
    for f in dataclasses.fields(config_class):
        tp = keys[f.name]
        args = typing.get_args(tp)
        if typing.get_origin(tp) is Literal:
            shown = "|".join(args[0] if isinstance(args[0], tuple) else args)
        else:
            shown = getattr(tp, "__name__", str(tp)).replace("typing.", "")
        if f.name in limits:
            shown += f", {allowed(limits[f.name])}"
        rows.append((f.name, shown, f.default, f.metadata.get("help", "")))
    return rows
