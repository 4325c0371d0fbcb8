"""REST serving: MLflow's scoring protocol (httpx) and the Open Inference Protocol v2 (tritonclient, a real client of
the protocol), answering exactly what ``mlprojects predict`` answers; bad requests are one JSON line, never a crash."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time

import numpy as np
import pandas as pd
import pytest

from mlprojects import rundir
from mlprojects.predict import predict
from mlprojects.runner import run

httpx = pytest.importorskip("httpx")
pytest.importorskip("prometheus_client")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """The REST app on uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, models, **options):
        import uvicorn

        from mlprojects.serve import rest

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(rest.build(models, **options), host="127.0.0.1", port=self.port,
                                                    log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    return rundir.load(run("wine", {"epochs": 3}, out=tmp_path_factory.mktemp("rest") / "wine", progress=False))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return rundir.load(run("mnist-mlp", {"epochs": 1, "widths": "32"}, out=tmp_path_factory.mktemp("rest") / "mlp",
                           progress=False))


def test_the_mlflow_protocol_answers_what_predict_answers_in_every_form(wine):
    frame = wine.preparation  # the training columns, in order
    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(5, len(frame.inputs))) * 0.1 + np.asarray(frame.mean),
                        columns=frame.inputs)
    expected = predict(wine, rows)
    expected = expected[[c for c in expected.columns if c not in frame.inputs]]
    bodies = {
        "dataframe_split": {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}},
        "dataframe_records": {"dataframe_records": rows.to_dict("records")},
        "instances as rows": {"instances": rows.to_numpy().tolist()},
        "inputs as columns": {"inputs": rows.to_dict("list")},
    }
    with Server({"wine": wine}) as url, httpx.Client(base_url=url) as client:
        assert client.get("/ping").status_code == 200 and client.get("/health").status_code == 200
        assert client.get("/version").text == __import__("mlprojects").__version__
        for form, body in bodies.items():
            answer = client.post("/invocations", json=body)
            assert answer.status_code == 200, (form, answer.text)
            got = pd.DataFrame(answer.json()["predictions"])
            assert list(got.columns) == list(expected.columns), form
            assert (got["predicted_Wine"] == expected["predicted_Wine"]).all(), form
            np.testing.assert_allclose(got.filter(like="probability").to_numpy(),
                                       expected.filter(like="probability").to_numpy(), rtol=1e-12, atol=0)
        as_csv = client.post("/invocations", content=rows.to_csv(index=False),
                             headers={"content-type": "text/csv"})
        assert as_csv.status_code == 200, as_csv.text
        got = pd.DataFrame(as_csv.json()["predictions"])
        np.testing.assert_allclose(got["probability"].to_numpy(), expected["probability"].to_numpy(), rtol=1e-6)


def test_the_open_inference_protocol_through_tritonclient(wine, digits):
    http = pytest.importorskip("tritonclient.http")
    prep = wine.preparation
    rows = pd.DataFrame(np.tile(np.asarray(prep.mean, dtype=np.float32), (3, 1)), columns=prep.inputs)
    rows.iloc[1] += 0.5
    expected = predict(wine, rows)
    with Server({"wine": wine, "digits": digits}) as url:
        client = http.InferenceServerClient(url.removeprefix("http://"))
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("wine")
        metadata = client.get_model_metadata("wine")
        assert [i["name"] for i in metadata["inputs"]] == prep.inputs
        assert {i["datatype"] for i in metadata["inputs"]} == {"FP32"}
        inputs = []
        for column in prep.inputs:  # one named FP32 tensor per column, sent in tritonclient's binary form
            tensor = http.InferInput(column, [len(rows)], "FP32")
            tensor.set_data_from_numpy(rows[column].to_numpy(np.float32), binary_data=True)
            inputs.append(tensor)
        result = client.infer("wine", inputs)
        assert result.as_numpy("predicted_Wine").astype(str).tolist() == expected["predicted_Wine"].tolist()
        np.testing.assert_allclose(result.as_numpy("probability"), expected["probability"], rtol=1e-6)
        # one FP32 matrix in the training column order, in JSON
        matrix = http.InferInput("features", [len(rows), len(prep.inputs)], "FP32")
        matrix.set_data_from_numpy(rows.to_numpy(np.float32), binary_data=False)
        again = client.infer("wine", [matrix])
        np.testing.assert_allclose(again.as_numpy("probability"), expected["probability"], rtol=1e-6)

        # images: encoded files as BYTES, top_k as a request parameter
        from PIL import Image

        from mlprojects.data import images

        pixels = images.load("mnist-10k").test_images[:4]
        files = []
        for picture in pixels:
            buffer = io.BytesIO()
            Image.fromarray(picture).save(buffer, format="PNG")
            files.append(buffer.getvalue())
        tensor = http.InferInput("image", [len(files)], "BYTES")
        tensor.set_data_from_numpy(np.array(files, dtype=object), binary_data=True)
        answer = client.infer("digits", [tensor], parameters={"top_k": 2})
        local = predict(digits, list(pixels), top_k=2)
        assert answer.as_numpy("label_1").astype(str).tolist() == local["label_1"].tolist()
        np.testing.assert_allclose(answer.as_numpy("probability_2"), local["probability_2"], rtol=1e-5)
        assert answer.as_numpy("label_3") is None  # top_k reached predict
        # the MLflow form of images: base64 files
        with httpx.Client(base_url=url) as web:
            body = {"instances": [{"b64": base64.b64encode(f).decode()} for f in files]}
            mlflow = web.post("/invocations?model=digits", json=body)
            assert mlflow.status_code == 200, mlflow.text
            assert [p["label_1"] for p in mlflow.json()["predictions"]] == local["label_1"].tolist()


def test_bad_requests_are_one_json_line_and_the_server_goes_on(wine):
    good = {"dataframe_records": [dict(zip(wine.preparation.inputs, wine.preparation.mean))]}
    with Server({"wine": wine}, max_body=20_000) as url, httpx.Client(base_url=url) as client:
        cases = [
            (client.post("/invocations", content=b"{not json", headers={"content-type": "application/json"}),
             400, "not JSON"),
            (client.post("/invocations", json={"dataframe_records": [{"Alcohol": 13.0}]}), 400,
             "no column 'Malic.acid'"),
            (client.post("/invocations", json={"instances": [[1, 2]]}), 400, "rows of 13 values"),
            (client.post("/invocations", json={"dataframe_records": [{**good["dataframe_records"][0], "Ash": "x"}]}),
             400, "'x' is not a number"),
            (client.post("/invocations", json={"something": 1}), 400, "dataframe_split"),
            (client.post("/invocations?model=other", json=good), 404, "no model 'other'"),
            (client.post("/invocations", content=b"x" * 30_000), 413, "over the limit"),
            (client.post("/v2/models/wine/infer", json={"inputs": [{"name": "Ash", "shape": [2], "datatype": "FP32",
                                                                    "data": [1.0]}]}), 400, "holds 2 values"),
            (client.post("/v2/models/wine/infer", json={"inputs": "no"}), 400, "a list of inputs"),
            (client.get("/v2/models/nothing"), 404, "no model 'nothing'"),
            (client.post("/invocations", json={**good, "params": {"top_k": "two"}}), 400, "top_k='two'"),
        ]
        for response, status, message in cases:
            assert response.status_code == status and message in response.json()["error"], response.text
            assert "\n" not in response.json()["error"]
        answer = client.post("/invocations", json=good)
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 1
        metrics = client.get("/metrics").text
        assert 'mlprojects_requests_total{model="wine",route="invocations",status="400"} 6.0' in metrics
        assert 'mlprojects_requests_total{model="wine",route="invocations",status="200"} 1.0' in metrics
        assert "mlprojects_request_seconds_bucket" in metrics


def test_credentials_guard_the_routes(wine):
    from mlprojects.serve.rest import Credentials

    good = {"dataframe_records": [dict(zip(wine.preparation.inputs, wine.preparation.mean))]}
    with Server({"wine": wine}, credentials=Credentials("ada", "s3cret")) as url, httpx.Client(base_url=url) as client:
        refused = client.post("/invocations", json=good)
        assert refused.status_code == 401 and "credentials" in refused.json()["error"]
        assert client.post("/invocations", json=good, auth=("ada", "wrong")).status_code == 401
        assert client.post("/invocations", json=good, auth=("ada", "s3cret")).status_code == 200
        bearer = client.post("/invocations", json=good, headers={"authorization": "Bearer s3cret"})
        assert bearer.status_code == 200
