"""``mlprojects export RUN --format onnx|pt2``: a finished run's model for another runtime.

- ONNX, through PyTorch's exporter (``torch.onnx.export(..., dynamo=True)``), with a dynamic batch
  dimension (and a dynamic length for token and character sequences), and in the model's metadata
  properties what a consumer needs: the project, the input and output names and shapes, the labels of
  the classes, and the preparation of raw inputs (columns, fill values, standardisation; pixel scaling
  and normalisation constants). The file is checked with onnxruntime before it is kept: on the run's
  test split, outputs within 1e-4 (relative to their size where above 1) of PyTorch's, and the same
  predicted class for every row.
- ``pt2``, through ``torch.export``: ``torch.export.load(path).module()`` runs it with torch alone,
  without this package. Checked the same way.

The fitted estimators are exported as the small torch modules their predictions are (a linear map; a
sigmoid or softmax over one; the nearest centre; the votes of the nearest training points), checked
against the estimator itself.
"""

from __future__ import annotations

import contextlib
import copy as pycopy
import functools
import inspect
import json
import os
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlprojects.engine.io import atomic_write
from mlprojects.errors import UserError
from mlprojects.rundir import Run

FORMATS = ("onnx", "pt2")
TOLERANCE = 1e-4


@dataclass
class Exportable:
    module: Any  # torch.nn.Module in eval mode
    test_inputs: Any  # a tensor: the run's test split, prepared
    input_name: str
    output_name: str
    dynamic: dict[int, str]  # input dimension -> its name
    classify: bool  # whether outputs are class scores (the same argmax is checked)
    metadata: dict[str, Any] = field(default_factory=dict)


def exportable(run: Run) -> Exportable:
    """What to export for RUN and the inputs to check it on; a project with no model is one UserError."""

    project, cfg = run.project, run.cfg
    if project.kind == "demo":
        raise UserError(f"{run.name} is a demonstration: it has no model to export")
    data = project.prepare(cfg)
    meta: dict[str, Any] = {"mlprojects.project": run.name}
    if run.preparation is not None:
        meta["preparation"] = json.loads(run.preparation.to_json())
    if project.kind == "estimator":
        return _estimator(run, data, meta)
    return _network(run, data.test.inputs, meta)


def _network(run: Run, inputs, meta: dict[str, Any]) -> Exportable:
    """RUN's network to export, checked on INPUTS; its input named and shaped, and its outputs and metadata
    described, as its kind of input says."""
    import torch

    project, cfg, kind = run.project, run.cfg, run.project.inputs
    model = run.model.eval()
    if project.channels_last(cfg):
        model = model.to(memory_format=torch.channels_last)
    try:
        meta = {**meta, "labels": run.class_names()}
    except NotImplementedError:  # not a classifier
        pass
    meta.update(kind.export_metadata(run))
    dynamic = project.dynamic_dims(cfg)
    meta["input"] = {"name": kind.tensor_name, "shape": [dynamic.get(i, size) for i, size in enumerate(inputs.shape)],
                     "dtype": str(inputs.dtype).removeprefix("torch.")}
    classify = kind.classifies(run)
    return Exportable(model, inputs, kind.tensor_name, "scores" if classify else "prediction", dynamic, classify,
                      meta)


def _estimator(run: Run, data, meta: dict[str, Any]) -> Exportable:
    import torch

    from mlprojects.estimators import KMeans, KNeighborsClassifier, LinearRegression, LogisticRegression
    from mlprojects.project import EstimatorProject

    Linear, Logistic, Nearest, Votes, Then = _modules()
    estimator, project, cfg = run.model, run.project, run.cfg
    own_features = type(project).features is not EstimatorProject.features  # k-means on the radius
    X = np.asarray(data.X_test if own_features else project.features(cfg, data.X_test), dtype=np.float32)
    if isinstance(estimator, LinearRegression):
        coef = torch.tensor(np.atleast_2d(estimator.coef_), dtype=torch.float32)
        module, output, classify = Linear(coef, torch.tensor(np.atleast_1d(estimator.intercept_), dtype=torch.float32),
                                           squeeze=np.ndim(estimator.coef_) == 1), "prediction", False
    elif isinstance(estimator, LogisticRegression):
        module = Logistic(torch.tensor(estimator.coef_, dtype=torch.float32),
                           torch.tensor(estimator.intercept_, dtype=torch.float32))
        output, classify = "probabilities", True
        meta["labels"] = [str(c) for c in estimator.classes_]
    elif isinstance(estimator, KMeans):
        module = Nearest(torch.tensor(estimator.cluster_centers_, dtype=torch.float32))
        output, classify = "cluster", False
    elif isinstance(estimator, KNeighborsClassifier):
        module = Votes(estimator._fit_X.float().cpu(), estimator._fit_y.cpu(), len(estimator.classes_),
                        estimator.n_neighbors, estimator.weights)
        output, classify = "probabilities", True
        meta["labels"] = [str(c) for c in estimator.classes_]
    else:
        raise UserError(f"{run.name}: {type(estimator).__name__} cannot be exported")
    if own_features:
        module = Then(project, cfg, module)
    inputs = torch.from_numpy(X)
    _same_as_estimator(run.name, module, inputs, estimator, project.features(cfg, data.X_test), output)
    meta["input"] = {"name": "features", "shape": ["batch", inputs.shape[1]], "dtype": "float32"}
    return Exportable(module.eval(), inputs, "features", output, {0: "batch"}, classify, meta)


def _same_as_estimator(name: str, module, inputs, estimator, X, output: str) -> None:
    """The module predicts what the estimator predicts, on the test split (float32 against the estimator's
    own precision: within 1e-4, the same class or cluster everywhere)."""
    import torch

    with torch.no_grad():
        found = module.eval()(inputs).numpy()
    expected = np.asarray(estimator.predict_proba(X) if output == "probabilities" else estimator.predict(X))
    if output == "cluster":
        same = np.array_equal(found, expected)
    else:
        same = np.allclose(found, expected, rtol=TOLERANCE, atol=TOLERANCE) and (
            output != "probabilities" or np.array_equal(found.argmax(1), expected.argmax(1)))
    if not same:
        raise UserError(f"{name}: the exported form of {type(estimator).__name__} does not predict what it predicts "
                        "on the test split; it was not exported")


@functools.lru_cache(maxsize=1)
def _modules():
    """The estimators' predictions as torch modules (built on first use: importing this file stays cheap)."""
    import torch
    from torch import nn

    class Linear(nn.Module):
        def __init__(self, coef, intercept, squeeze: bool = False):
            super().__init__()
            self.register_buffer("coef", coef)
            self.register_buffer("intercept", intercept)
            self.squeeze = squeeze

        def forward(self, x):
            out = x @ self.coef.T + self.intercept
            return out[:, 0] if self.squeeze else out

    class Logistic(Linear):
        def forward(self, x):
            out = x @ self.coef.T + self.intercept
            if out.shape[1] == 1:
                positive = torch.sigmoid(out)
                return torch.cat([1 - positive, positive], 1)
            return out.softmax(1)

    class Nearest(nn.Module):
        def __init__(self, centres):
            super().__init__()
            self.register_buffer("centres", centres)

        def forward(self, x):
            return ((x[:, None, :] - self.centres[None]) ** 2).sum(2).argmin(1)

    class Votes(nn.Module):
        def __init__(self, points, labels, classes: int, k: int, weights: str):
            super().__init__()
            self.register_buffer("points", points)
            self.register_buffer("one_hot", nn.functional.one_hot(labels, classes).float())
            self.k, self.distance_weighted = k, weights == "distance"

        def forward(self, x):
            distances = ((x[:, None, :] - self.points[None]) ** 2).sum(2)
            nearest, index = distances.topk(self.k, dim=1, largest=False)
            votes = self.one_hot[index]  # (batch, k, classes)
            if self.distance_weighted:
                votes = votes / nearest.sqrt().clamp_min(1e-12)[..., None]
            votes = votes.sum(1)
            return votes / votes.sum(1, keepdim=True)

    class Then(nn.Module):
        """The project's feature step (k-means on the radius), then the estimator's module."""

        def __init__(self, project, cfg, inner):
            super().__init__()
            self.project, self.cfg, self.inner = project, cfg, inner

        def forward(self, x):
            return self.inner(self.project.features(self.cfg, x))

    return Linear, Logistic, Nearest, Votes, Then


def export(run: Run, fmt: str = "onnx", out: str | Path | None = None) -> dict[str, Any]:
    """Export RUN's model to FMT at OUT (default: RUN/model.onnx or RUN/model.pt2), checked before it is
    kept; returns the path and the check's figures."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt}: one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        import importlib.util

        missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
        if missing:
            raise UserError(f"ONNX export needs {', '.join(missing)}: pip install 'mlprojects[export]'")
    target = Path(out) if out is not None else run.path / f"model.{fmt}"
    return {"path": str(target), "format": fmt, **_write_checked(exportable(run), fmt, target, run.name)}


def for_inference(run: Run, target: Path) -> Path:
    """RUN's network as ONNX for ``predict``'s onnxruntime path: exported without reading the data (checked on
    64 inputs its kind of input makes up, instead of the test split: within 1e-4, the same class), to TARGET,
    or to a temporary file when TARGET's folder cannot be written."""
    item = _network(run, run.project.inputs.random_inputs(run, 64), {"mlprojects.project": run.name})
    if not os.access(target.parent, os.W_OK):
        target = Path(tempfile.mkdtemp(prefix="mlprojects-onnx-")) / target.name
    _write_checked(item, "onnx", target, run.name)
    return target


def _write_checked(item: Exportable, fmt: str, target: Path, name: str) -> dict[str, Any]:
    """ITEM exported to FMT beside TARGET, checked, then moved onto TARGET (never a half-written or unchecked
    file there); the check's figures."""
    figures: dict[str, Any] = {}

    def write(temporary: str) -> None:
        try:
            (_onnx if fmt == "onnx" else _pt2)(item, temporary)
        except Exception as error:  # an operator the exporter cannot express: say which, in one line
            first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
            raise UserError(f"{name} cannot be exported to {fmt}: {type(error).__name__}: {first}") from None
        figures.update(check(item, fmt, temporary))

    atomic_write(target, write)
    return figures


def _dynamic_shapes(item: Exportable):
    """The batch dimension is dynamic; a length (tokens, characters) is dynamic where the model allows it
    (an LSTM unrolled by torch.export fixes it to the example's)."""
    import torch

    return ({index: torch.export.Dim(name, min=1) if index == 0 else torch.export.Dim.AUTO
             for index, name in item.dynamic.items()},)


def _example(item: Exportable):
    example = item.test_inputs[:2]
    return example if len(example) == 2 else item.test_inputs.repeat(2, *([1] * (item.test_inputs.dim() - 1)))[:2]


def _onnx(item: Exportable, path: str) -> None:
    import torch

    with warnings.catch_warnings(), _torchlib_once():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(item.module, (_example(item),), dynamo=True, verbose=False,
                                    input_names=[item.input_name], output_names=[item.output_name],
                                    dynamic_shapes=_dynamic_shapes(item), optimize=True)
    for key, value in item.metadata.items():  # written with the model, not loaded and saved a second time
        program.model.metadata_props[key] = value if isinstance(value, str) else json.dumps(value)
    program.save(path)


_EXPORTING = threading.Lock()


@contextlib.contextmanager
def _torchlib_once():
    """For the length of one export (one at a time), PyTorch's exporter is handed a copy of the table of ONNX
    functions it built the first time, instead of building it again: it parses the source of about 500 functions
    of onnxscript's torchlib each time, 1.2-2.4 s of every export on a 2-core machine (a process that exports
    several models: a notebook predicting with several runs, the test suite). The copy is the table it would
    build, and what an export registers in it stays in the copy. Where a release of PyTorch has no such table, a
    plain export."""
    try:
        from torch.onnx._internal.exporter import _registration

        original = _registration.ONNXRegistry.__dict__["from_torchlib"]
        build = original.__func__
        default = inspect.signature(build).parameters["opset_version"].default
    except (ImportError, KeyError, AttributeError):
        yield
        return

    def copy(cls, opset_version=default):
        registry = pycopy.copy(_torchlib(build, cls, opset_version))
        registry.functions = {target: list(metas) for target, metas in registry.functions.items()}
        return registry

    with _EXPORTING:
        _registration.ONNXRegistry.from_torchlib = classmethod(copy)
        try:
            yield
        finally:
            _registration.ONNXRegistry.from_torchlib = original


@functools.cache
def _torchlib(build, cls, opset_version):
    return build(cls, opset_version=opset_version)


def _pt2(item: Exportable, path: str) -> None:
    import torch

    # Two of PyTorch's warnings that ask nothing of the user (the check below loads the file back and compares):
    # an LSTM's forward reassigns its _flat_weights, which torch.export puts back and only warns about
    # (pytorch/pytorch#163809); and a channels-last weight is not contiguous, which save takes for a slice of a
    # larger tensor, and it is saved whole. The file is written through an open one: given a path, save and load
    # log a warning for any name not ending in .pt2, as the temporary file's does
    with warnings.catch_warnings(), open(path, "wb") as handle:
        warnings.filterwarnings("ignore", message=r"The tensor attributes .*_flat_weights")
        warnings.filterwarnings("ignore", message="No complete tensor found in the group")
        program = torch.export.export(item.module, (_example(item),), dynamic_shapes=_dynamic_shapes(item))
        torch.export.save(program, handle, extra_files={"mlprojects.json": json.dumps(item.metadata)})


def check(item: Exportable, fmt: str, path: str) -> dict[str, Any]:
    """The exported file against PyTorch on the test split: the largest difference and the class agreement."""
    import torch

    with torch.no_grad():
        expected = item.module(item.test_inputs).float().numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        found = session.run(None, {item.input_name: item.test_inputs.numpy()})[0]
    else:
        with torch.no_grad(), open(path, "rb") as handle:
            found = torch.export.load(handle).module()(item.test_inputs).float().numpy()
    if expected.dtype.kind in "iu" or found.dtype.kind in "iu":  # cluster ids: equal or not
        agreement = float(np.mean(found == expected))
        worst = 0.0 if agreement == 1 else float("inf")
    else:
        worst = float(np.max(np.abs(found - expected) / np.maximum(1.0, np.abs(expected)), initial=0.0))
        agreement = float(np.mean(found.argmax(-1) == expected.argmax(-1))) if item.classify else 1.0
    if worst > TOLERANCE or agreement < 1:
        raise UserError(f"the exported {fmt} model differs from PyTorch on the test split (largest difference "
                        f"{worst:.2e}, same class for {agreement:.2%}); it was not kept")
    return {"checked_rows": int(len(item.test_inputs)), "largest_difference": worst, "same_class": agreement}
