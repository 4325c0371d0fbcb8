"""Settings: coercion from strings and YAML, checks, and one-line errors that name the fix."""

from dataclasses import dataclass

import pytest

from mlprojects.config import TrainConfig, coerce, parse_overrides, resolve, setting, to_dict
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


def test_parse_overrides():
    assert parse_overrides(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    assert parse_overrides(["optimizer=adam lr=0.001"]) == {"optimizer": "adam", "lr": "0.001"}
    with pytest.raises(UserError, match="expected KEY=VALUE"):
        parse_overrides(["epochs"])


def test_bool_is_not_an_int():
    with pytest.raises(UserError):
        coerce("epochs", int, True)
