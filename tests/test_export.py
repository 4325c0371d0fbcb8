"""``mlprojects export``: every project with a model goes to ONNX and to pt2, checked on its test split;
the files run in onnxruntime with any batch size, and pt2 reloads with torch alone."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mlprojects import registry, rundir
from mlprojects.runner import run

pytest.importorskip("onnxruntime")
EXPORTABLE = [entry.name for entry in registry.entries() if registry.get(entry.name).kind != "demo"]
RELOADED = ("mnist-cnn", "knn-circles", "text-classify")  # a network, an estimator, a transformer: also loaded
# by a process that never imports mlprojects (the others are checked by torch.export.load in this one)


def finished(name: str, tmp_path, request) -> rundir.Run:
    settings = dict(registry.get(name).smoke_settings)
    for need in registry.entry(name).needs:
        settings.update(request.getfixturevalue(need.replace("-", "_")) or {})
    if name == "bach-charrnn":
        settings.update(max_tunes=20, epochs=1, seq_length=16)  # the exporters unroll the LSTM over the length
    return rundir.load(run(name, settings, out=tmp_path / "run", progress=False))


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPORTABLE)
def test_every_model_exports_to_onnx_and_pt2_checked_on_its_test_split(name, tmp_path, request, cli):
    import onnx
    import onnxruntime

    from mlprojects.export import exportable

    if name == "bach-charrnn":
        pytest.importorskip("music21")
    done = finished(name, tmp_path, request)
    result = cli("export", str(done.path), "--format", "onnx")
    assert result.code == 0 and not result.err, result.err
    assert "same class for 100%" in result.out and (done.path / "model.onnx").is_file()

    model = onnx.load(done.path / "model.onnx")
    props = {entry.key: entry.value for entry in model.metadata_props}
    assert props["mlprojects.project"] == name and "input" in props
    item = exportable(done)
    if item.classify and registry.get(name).inputs.kind != "text":
        assert len(json.loads(props["labels"])) >= 2
    if done.project.inputs.kind in ("table", "series", "image"):
        assert "preparation" in props
    session = onnxruntime.InferenceSession(str(done.path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == item.input_name
    for rows in (1, 3):  # any batch size
        batch = item.test_inputs[:rows] if len(item.test_inputs) >= rows else item.test_inputs.repeat(rows, 1)[:rows]
        assert len(session.run(None, {item.input_name: batch.numpy()})[0]) == rows

    out = tmp_path / "elsewhere" / "model.pt2"
    result = cli("export", str(done.path), "--format", "pt2", "--out", str(out))  # checked by torch.export.load
    assert result.code == 0 and not result.err, result.err  # no warning about the temporary file's name
    if name not in RELOADED:
        return
    np.save(tmp_path / "inputs.npy", item.test_inputs[:3].numpy())
    probe = ("import sys, numpy, torch; m = torch.export.load(sys.argv[1]).module(); "
             "x = torch.from_numpy(numpy.load(sys.argv[2])); y = m(x); "
             "assert 'mlprojects' not in sys.modules; print(tuple(y.shape))")
    shown = subprocess.run([sys.executable, "-c", probe, str(out), str(tmp_path / "inputs.npy")], capture_output=True,
                           text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().startswith("(3")


def test_what_cannot_be_exported_says_why_in_one_line(tmp_path, cli):
    demo = run("conv-demo", {"image": "leopard"}, out=tmp_path / "demo", progress=False)
    result = cli("export", str(demo), "--format", "onnx")
    assert result.code == 2 and "a demonstration: it has no model to use" in result.err
    assert len(result.err.strip().splitlines()) == 1
    done = run("wine", {"epochs": 2}, out=tmp_path / "wine", progress=False)
    result = cli("export", str(done), "--format", "tflite")
    assert result.code == 2 and "tflite" in result.err


def test_the_exported_classifier_agrees_with_predict(tmp_path):
    import onnxruntime

    from mlprojects.predict import predict

    done = rundir.load(run("softmax-iris", {}, out=tmp_path / "iris", progress=False))
    from mlprojects.export import export

    path = export(done, "onnx")["path"]
    raw = done.project.prepare(done.cfg).raw_test
    table = predict(done, raw)
    features = done.preparation.transform(raw).astype(np.float32)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    probabilities = session.run(None, {"features": features})[0]
    import onnx

    labels = json.loads({entry.key: entry.value for entry in onnx.load(path).metadata_props}["labels"])
    assert [labels[i] for i in probabilities.argmax(1)] == list(table["predicted_species"])
    np.testing.assert_allclose(probabilities.max(1), table["probability"], atol=1e-5)


def test_a_process_builds_the_exporters_table_once_and_each_export_gets_its_own_copy(tmp_path):
    """The second ONNX export in a process reuses the table of ONNX functions the first built (it is not built
    again), gives the same file byte for byte, and what an export registers in its table stays in that one; outside
    an export, PyTorch's own way of building the table is back in place."""
    import functools

    import torch
    from torch.onnx._internal.exporter import _registration

    from mlprojects import export

    built = []
    original = _registration.ONNXRegistry.__dict__["from_torchlib"]

    @functools.wraps(original.__func__)
    def counted(cls, *args, **kwargs):
        built.append(kwargs.get("opset_version", args[0] if args else None))
        return original.__func__(cls, *args, **kwargs)

    spy = classmethod(counted)
    torch.manual_seed(0)
    item = export.Exportable(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).eval(),
                             torch.randn(5, 3), "x", "y", {0: "batch"}, classify=True)
    _registration.ONNXRegistry.from_torchlib = spy
    try:
        for name in ("first.onnx", "second.onnx"):
            export._onnx(item, str(tmp_path / name))
            assert _registration.ONNXRegistry.__dict__["from_torchlib"] is spy  # put back after each export
        assert len(built) == 1
        assert (tmp_path / "first.onnx").read_bytes() == (tmp_path / "second.onnx").read_bytes()
        with export._torchlib_once():
            again = functools.partial(_registration.ONNXRegistry.from_torchlib, opset_version=built[0])
            one, other = again(), again()
            assert len(built) == 1 and one is not other and one.functions.keys() == other.functions.keys()
            target = next(iter(one.functions))
            one.functions[target].append("an export's own")
            assert "an export's own" not in other.functions[target]
            assert "an export's own" not in again().functions[target]
    finally:
        _registration.ONNXRegistry.from_torchlib = original
    assert export.check(item, "onnx", str(tmp_path / "second.onnx"))["same_class"] == 1.0
