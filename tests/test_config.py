"""Settings: coercion from strings and YAML, checks, and one-line errors that name the fix."""

import re
from dataclasses import dataclass

import pytest

from mlprojects.config import TrainConfig, allowed, coerce, describe, parse_overrides, resolve, setting, to_dict
from mlprojects.errors import UserError


@dataclass
class Config(TrainConfig):
    widths: tuple[int, ...] = setting((256, 256), "widths")


@pytest.mark.parametrize("text, expected", [
    ("256,256,256,256", (256, 256, 256, 256)),
    ("256x4", (256, 256, 256, 256)),
    ("128-64-32-16", (128, 64, 32, 16)),
    ("128x2,64", (128, 128, 64)),
    ("[20, 20]", (20, 20)),
])
def test_widths_accept_the_notebook_spellings(text, expected):
    assert resolve(Config, {"widths": text}).widths == expected


def test_strings_become_the_declared_types():
    cfg = resolve(Config, {"epochs": "3", "lr": "1e-3", "compile": "yes", "optimizer": "adam"})
    assert (cfg.epochs, cfg.lr, cfg.compile, cfg.optimizer) == (3, 0.001, True, "adam")


def test_yaml_values_then_set_overrides_in_order():
    cfg = resolve(Config, {"epochs": 4, "widths": [8, 8]}, {"epochs": "2"})
    assert cfg.epochs == 2 and cfg.widths == (8, 8)
    assert to_dict(cfg)["widths"] == [8, 8]


@pytest.mark.parametrize("overrides, message", [
    ({"epoch": "3"}, "unknown setting 'epoch': did you mean epochs?"),
    ({"batchsize": "3"}, "did you mean batch_size"),
    ({"epochs": "three"}, "setting epochs='three' is not valid: expected an integer"),
    ({"epochs": "2.5"}, "expected an integer"),
    ({"lr": "fast"}, "expected a number"),
    ({"compile": "maybe"}, "expected true or false"),
    ({"optimizer": "sgdd"}, "expected one of sgd, momentum, adam"),
    ({"epochs": "0"}, "epochs=0: must be greater than 0"),
    ({"batch_size": "-32"}, "batch_size=-32: must be greater than 0"),
    ({"widths": "a,b"}, "a list of integers"),
    ({"early_stopping": "3"}, "early_stopping needs a validation split"),
])
def test_bad_settings_are_one_clear_line(overrides, message):
    with pytest.raises(UserError) as error:
        resolve(Config, overrides)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@dataclass
class Redeclared(Config):
    epochs: int = setting(7, "a new default, no bounds given")
    val_fraction: float = setting(0.2, "bounds of its own", gt=0, lt=0.5)
    dropout: float | None = setting(None, "none, or a rate", ge=0, lt=1)
    channels: tuple[int, ...] = setting((8, 16), "one to three numbers over 0", gt=0, min_length=1, max_length=3)


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": "0"}, "epochs=0: must be greater than 0"),  # the parent's bounds, kept
    ({"val_fraction": "0"}, "val_fraction=0.0: must be in (0, 0.5)"),  # its own, replacing the parent's [0, 1)
    ({"val_fraction": "0.6"}, "val_fraction=0.6: must be in (0, 0.5)"),
    ({"dropout": "1"}, "dropout=1.0: must be in [0, 1)"),
    ({"momentum": "-0.5"}, "momentum=-0.5: must be 0 or more"),
    ({"seed": "-1"}, "seed=-1: must be 0 or more"),
    ({"channels": "8,0"}, "channels=8,0: must be 1 to 3 values, each greater than 0"),  # each number
    ({"channels": "8x4"}, "channels=8,8,8,8: must be 1 to 3 values"),  # the length
    ({"channels": "1,2,3,4"}, "channels=1,2,3,4: must be 1 to 3 values"),
])
def test_declared_bounds_are_checked_and_a_redeclared_setting_keeps_its_parents(overrides, message):
    with pytest.raises(UserError, match=re.escape(message)):
        resolve(Redeclared, overrides)


def test_bounds_allow_none_and_their_edges_and_are_shown_with_the_type():
    cfg = resolve(Redeclared, {"dropout": "none", "momentum": "0", "val_fraction": "0.49"})
    assert (cfg.dropout, cfg.momentum, cfg.val_fraction, cfg.epochs) == (None, 0.0, 0.49, 7)
    types = {name: shown for name, shown, _, _ in describe(Redeclared)}
    assert types["epochs"] == "int, greater than 0"
    assert types["val_fraction"] == "float, in (0, 0.5)"
    assert types["momentum"] == "float, 0 or more"
    assert types["widths"] == "tuple"
    assert types["channels"] == "tuple, 1 to 3 values, each greater than 0"
    assert resolve(Redeclared, {"channels": "1,2,3"}).channels == (1, 2, 3)


def test_parse_overrides():
    assert parse_overrides(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    assert parse_overrides(["optimizer=adam lr=0.001"]) == {"optimizer": "adam", "lr": "0.001"}
    with pytest.raises(UserError, match="expected KEY=VALUE"):
        parse_overrides(["epochs"])


def test_bool_is_not_an_int():
    with pytest.raises(UserError):
        coerce("epochs", int, True)


def test_require_names_the_extra_and_a_missing_dependency_of_the_module(tmp_path, monkeypatch):
    from mlprojects.errors import require

    (tmp_path / "needs_more.py").write_text("import absent_dependency_of_needs_more\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert require("json", "none", "x") is __import__("json")
    with pytest.raises(UserError) as error:
        require("absent_module_xyz", "web", "the page needs absent_module_xyz")
    assert str(error.value) == ("the page needs absent_module_xyz, which is not installed: "
                                "pip install 'mlprojects[web]'")
    with pytest.raises(UserError) as error:
        require("needs_more", "nlp", "NLP needs needs_more")
    assert str(error.value) == ("NLP needs needs_more, which cannot be imported (absent_dependency_of_needs_more is "
                                "missing): pip install 'mlprojects[nlp]'")


def test_a_bound_given_as_none_is_no_bound():
    @dataclass
    class Unbounded(TrainConfig):
        rate: float = setting(0.5, "a rate", gt=None, lt=1)

    assert resolve(Unbounded, {"rate": "-3"}).rate == -3.0
    with pytest.raises(UserError, match=re.escape("rate=1.0: must be less than 1")):
        resolve(Unbounded, {"rate": "1"})


def test_bounds_read_as_words():
    assert allowed({"lt": 1}) == "less than 1"
    assert allowed({"ge": 0, "lt": 1}) == "in [0, 1)" and allowed({"gt": 0, "lt": 0.5}) == "in (0, 0.5)"
    assert allowed({"min_length": 2}) == "2 or more values"
    assert allowed({"gt": 0, "min_length": 1, "max_length": 4}) == "1 to 4 values, each greater than 0"
