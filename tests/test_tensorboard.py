"""What a run writes for TensorBoard (scalars, the model's graph, histograms, the embedding projector), read
back with TensorBoard's own reader, and `mlprojects tensorboard` serving it over HTTP."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from conftest import Forked, free_port

from mlprojects.runner import run


def events(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"histograms": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def test_a_run_writes_scalars_graph_histograms_and_the_projector(tmp_path):
    run_dir = run("mnist-mlp", {"epochs": 2, "widths": "32,32", "histograms": True}, out=tmp_path / "run",
                  progress=False)
    found = events(run_dir)
    tags = found.Tags()
    assert {"loss/train", "accuracy/train"} <= set(tags["scalars"])
    assert [event.step for event in found.Scalars("loss/train")] == [1, 2]
    assert tags["graph"] is True
    assert {"weights/0.weight", "gradients/0.weight"} <= set(tags["histograms"]), tags["histograms"]
    assert [event.step for event in found.Histograms("weights/0.weight")] == [1, 2]
    projector = run_dir / "tensorboard" / "projector_config.pbtxt"
    assert projector.is_file()
    folder = next((run_dir / "tensorboard").rglob("metadata.tsv")).parent
    assert len((folder / "metadata.tsv").read_text().splitlines()) == 1000
    assert (folder / "sprite.png").is_file() and (folder / "tensors.tsv").read_text().count("\t") == 1000 * 31


def test_histograms_are_off_by_default(tmp_path):
    run_dir = run("wine", {"epochs": 2}, out=tmp_path / "run", progress=False)
    assert events(run_dir).Tags()["histograms"] == []


@pytest.mark.slow
def test_the_tensorboard_command_serves_the_runs(tmp_path):
    run("wine", {"epochs": 2}, out=tmp_path / "runs" / "wine", progress=False)
    port = free_port()
    process = Forked(["tensorboard", str(tmp_path / "runs"), "--port", str(port)])
    try:
        first = process.stdout.readline()
        assert first.startswith(f"TensorBoard on http://127.0.0.1:{port}/ (the same as: tensorboard --logdir")
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/scalars/tags", timeout=5) as answer:
                    tags = json.load(answer)
                if tags:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.5)
        assert "loss/train" in tags["wine/tensorboard"]
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_a_missing_folder_is_one_line(cli, tmp_path):
    result = cli("tensorboard", str(tmp_path / "nowhere"))
    assert result.code == 2 and "no such folder" in result.err


@pytest.mark.parametrize("name", ["mnist-cnn"])
def test_the_projector_of_a_convnet(name, tmp_path):
    run_dir = run(name, {"epochs": 1, "channels": "4,8", "dense": 16}, out=tmp_path / "run", progress=False)
    folder = next((run_dir / "tensorboard").rglob("tensors.tsv")).parent
    assert (folder / "tensors.tsv").read_text().count("\t") == 1000 * 15  # the dense layer's 16 features
