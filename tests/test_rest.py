"""REST serving: MLflow's scoring protocol (httpx) and the Open Inference Protocol v2 (tritonclient, a real client of
the protocol), answering exactly what ``mlprojects predict`` answers; bad requests are one JSON line, never a crash."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Forked, bomb_png, free_port

from mlprojects import rundir
from mlprojects.errors import UserError
from mlprojects.inputs.table import numeric_rows
from mlprojects.predict import answers, predict

httpx = pytest.importorskip("httpx")
pytest.importorskip("prometheus_client")



class Server:
    """An ASGI app (or the REST app of MODELS with OPTIONS) on uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, models, **options):
        import uvicorn

        from mlprojects.serve import rest

        self.port = free_port()
        app = rest.build(models, **options) if isinstance(models, dict) else models
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
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
def wine(wine_run):
    return rundir.load(wine_run)


@pytest.fixture(scope="module")
def digits(digits_run):
    return rundir.load(digits_run)


def test_the_mlflow_protocol_answers_what_predict_answers_in_every_form(wine):
    frame = wine.preparation  # the training columns, in order
    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(5, len(frame.inputs))) * 0.1 + np.asarray(frame.mean),
                        columns=frame.inputs)
    expected = predict(wine, rows)
    expected = expected[[c for c in expected.columns if c not in frame.inputs]]
    bodies = {
        "dataframe_split": {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}},
        "dataframe_records": {"dataframe_records": rows.to_dict("records")},
        "dataframe_records, keys in another order": {"dataframe_records": [dict(reversed(list(record.items())))
                                                                           for record in rows.to_dict("records")]},
        "instances as rows": {"instances": rows.to_numpy().tolist()},
        "instances as records": {"instances": rows.to_dict("records")},
        "inputs as columns": {"inputs": rows.to_dict("list")},
        "with a column the model does not take": {"dataframe_records": [{**record, "note": "kept out"}
                                                                       for record in rows.to_dict("records")]},
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
        np.testing.assert_allclose(got["probability"].to_numpy(), expected["probability"].to_numpy(), rtol=1e-12)


def test_rows_of_numbers_are_read_without_pandas_and_answered_as_a_dataframe_is(wine):
    prep = wine.preparation
    columns, row = prep.inputs, dict(zip(prep.inputs, prep.mean))
    values = list(row.values())
    for body in ({"dataframe_records": [row]}, {"dataframe_records": [dict(reversed(list(row.items())))]},
                 {"instances": [row]}, {"inputs": values}, {"instances": [values]},
                 {"dataframe_split": {"columns": columns, "data": [values]}}, {"dataframe_split": {"data": [values]}}):
        np.testing.assert_array_equal(numeric_rows(body, columns), np.array([prep.mean]), str(body)[:80])
    # anything else is read as a DataFrame, which says what is wrong, or carries the other columns through
    for body in ({"dataframe_records": [{**row, "Ash": True}]}, {"dataframe_records": [{**row, "Ash": "1.5"}]},
                 {"dataframe_records": [{**row, "Ash": None}]}, {"dataframe_records": [{**row, "extra": 1.0}]},
                 {"dataframe_records": [{k: v for k, v in row.items() if k != "Ash"}]},
                 {"dataframe_records": [values]}, {"dataframe_records": [{**row, "Ash": 10 ** 400}]},
                 {"dataframe_records": []}, {"instances": [values[:-1]]}, {"instances": {"Ash": [1.0]}},
                 {"dataframe_split": {"columns": columns[::-1], "data": [values]}}, {"something": 1}, "Ash\n1.5\n"):
        assert numeric_rows(body, columns) is None, str(body)[:80]
    # several rows: the same answer to the bit as through pandas, whose matrix is column-major
    rows = np.random.default_rng(2).normal(size=(7, len(columns))) * np.asarray(prep.scale) + np.asarray(prep.mean)
    plain, through_pandas = answers(wine, rows), answers(wine, pd.DataFrame(rows, columns=columns))
    assert list(plain) == list(through_pandas)
    for column in plain:
        np.testing.assert_array_equal(np.asarray(plain[column]), np.asarray(through_pandas[column]), column)


def test_the_open_inference_protocol_through_tritonclient(wine, digits, tmp_path):
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
        import torch

        from mlprojects.predict import onnx_session  # images go through onnxruntime, on PyTorch's threads

        assert onnx_session(digits).get_session_options().intra_op_num_threads == torch.get_num_threads()
        assert answer.as_numpy("label_1").astype(str).tolist() == local["label_1"].tolist()
        np.testing.assert_allclose(answer.as_numpy("probability_2"), local["probability_2"], rtol=1e-5)
        assert answer.as_numpy("label_3") is None  # top_k reached predict
        # the MLflow form of images: base64 files
        with httpx.Client(base_url=url) as web:
            body = {"instances": [{"b64": base64.b64encode(f).decode()} for f in files]}
            mlflow = web.post("/invocations?model=digits", json=body)
            assert mlflow.status_code == 200, mlflow.text
            assert [p["label_1"] for p in mlflow.json()["predictions"]] == local["label_1"].tolist()
            # a picture too large to decode, whatever its size on the wire, and bytes that are no picture: a 400
            # with one line each (a bomb was a 500 and a traceback, before), and the server goes on
            wide = io.BytesIO()
            Image.new("L", (5000, 10)).save(wide, format="PNG")
            for data, message in ((bomb_png(tmp_path / "bomb.png").read_bytes(), "image 2: more than "),
                                  (wide.getvalue(), "image 2: 5000x10 pixels; the limit is 4096x4096"),
                                  (b"not a picture", "image 2: not an image file PIL can read (13 bytes)")):
                body = {"instances": [{"b64": base64.b64encode(f).decode()} for f in (files[0], data)]}
                refused = web.post("/invocations?model=digits", json=body)
                assert refused.status_code == 400 and refused.json()["error"].startswith(message), refused.text
            assert web.post("/invocations?model=digits", json={"instances": [{"b64": body["instances"][0]["b64"]}]}
                            ).status_code == 200
        # pixels as a tensor: UINT8, or FP32 scaled to [0, 1], the same answers; FP32 outside [0, 1] is refused
        as_bytes = http.InferInput("image", list(pixels.shape), "UINT8")
        as_bytes.set_data_from_numpy(pixels)
        scaled = http.InferInput("image", list(pixels.shape), "FP32")
        scaled.set_data_from_numpy(pixels.astype(np.float32) / 255)
        for tensor in (as_bytes, scaled):
            answer = client.infer("digits", [tensor], parameters={"top_k": 2})
            assert answer.as_numpy("label_1").astype(str).tolist() == local["label_1"].tolist()
            np.testing.assert_allclose(answer.as_numpy("probability_2"), local["probability_2"], rtol=1e-5)
        scaled.set_data_from_numpy(pixels.astype(np.float32))
        with pytest.raises(Exception, match=r"FP32 pixels are scaled to \[0, 1\]; one is [0-9]+: scale them"):
            client.infer("digits", [scaled])


def test_bad_requests_are_one_json_line_and_the_server_goes_on(wine):
    good = {"dataframe_records": [dict(zip(wine.preparation.inputs, wine.preparation.mean))]}
    columns = wine.preparation.inputs

    def tensors(rows: list[int]) -> list[dict]:  # a column each, ROWS[i] rows in the i-th
        return [{"name": c, "shape": [n], "datatype": "FP32", "data": [1.0] * n} for c, n in zip(columns, rows)]

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
            (client.post("/invocations", json={"instances": [[1e308] * 13]}), 400,  # NaN answers, before
             "column Alcohol row 1: 1e+308 is too far beyond the training values"),
            # each of these was a 500 and a traceback in the server's log
            (client.post("/invocations", json={"inputs": {c: [1.0] * (1 + (c == "Ash")) for c in columns}}), 400,
             "inputs: the columns hold different numbers of values (Alcohol 1, Malic.acid 1, Ash 2,"),
            (client.post("/invocations", json={"instances": [[10**400] * 13]}), 400,
             "column Alcohol row 1: an integer of 401 digits, beyond the range of float64"),
            (client.post("/invocations", json={"dataframe_split": {"columns": columns, "data": []}}), 400,
             "no rows to predict"),
            (client.post("/invocations", json={"dataframe_records": []}), 400, "no rows to predict"),
            (client.post("/invocations", json={**good, "params": "top_k=2"}), 400,
             'the parameters are a JSON object, such as {"top_k": 3}, not str'),
            (client.post("/v2/models/wine/infer", json={"inputs": tensors([0] * 13)}), 400, "no rows to predict"),
            (client.post("/v2/models/wine/infer", json={"inputs": tensors([1] * 12 + [2])}), 400,
             "the columns hold different numbers of values"),
            (client.post("/v2/models/wine/infer", json={"inputs": tensors([1] * 13) + tensors([1])}), 400,
             "input Alcohol is given twice"),
            (client.post("/v2/models/wine/infer", json={"inputs": tensors([1] * 13) + [
                {"name": "Colour", "shape": [1], "datatype": "FP32", "data": [1.0]}]}), 400,
             "input Colour: the model has no such input; its inputs are Alcohol, Malic.acid,"),
            (client.post("/v2/models/wine/infer", json={"inputs": [{"name": "Ash", "shape": [2**40, 2**40],
                                                                    "datatype": "FP32", "data": [1.0]}]}), 400,
             "holds 1,208,925,819,614,629,174,706,176 values, the data 1"),  # NumPy's product overflowed to 0
            (client.post("/v2/models/wine/infer", json={"inputs": tensors([1] * 13), "parameters": [2]}), 400,
             "the parameters are a JSON object"),
        ]
        for response, status, message in cases:
            assert response.status_code == status and message in response.json()["error"], response.text
            assert "\n" not in response.json()["error"]
        answer = client.post("/invocations", json=good)
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 1
        # NaN, as Python's json.dumps writes a missing value (orjson refuses it), is read as null is
        nan = json.dumps({"dataframe_records": [{**good["dataframe_records"][0], "Ash": float("nan")}]})
        null = {"dataframe_records": [{**good["dataframe_records"][0], "Ash": None}]}
        for missing in (client.post("/invocations", content=nan, headers={"content-type": "application/json"}),
                        client.post("/invocations", json=null)):
            assert missing.status_code == 400 and missing.json()["error"] == "column Ash row 1 is empty; give a number"
        metrics = client.get("/metrics").text
        assert 'mlprojects_requests_total{model="wine",route="invocations",status="400"} 14.0' in metrics
        # a name nobody serves is counted without its name: a label each would let requests grow the memory
        assert 'mlprojects_requests_total{model="",route="invocations",status="404"} 1.0' in metrics
        assert 'model="other"' not in metrics
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


def test_concurrent_requests_are_predicted_together_and_each_gets_its_own_answer(wine):
    prep = wine.preparation
    rows = pd.DataFrame(np.random.default_rng(1).normal(size=(16, len(prep.inputs))) * np.asarray(prep.scale)
                        + np.asarray(prep.mean), columns=prep.inputs)
    expected = predict(wine, rows)
    bad = {**rows.iloc[0].to_dict(), "Ash": "x"}

    def together(client, bodies):
        start = threading.Barrier(len(bodies))
        answers = [None] * len(bodies)

        def send(i):
            start.wait()
            answers[i] = client.post("/invocations", json=bodies[i])

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return answers

    # the first request waits 300 ms for others: every one of the 16 arrives within it
    with Server({"wine": wine}, max_wait=0.3) as url, httpx.Client(base_url=url, timeout=30) as client:
        answers = together(client, [{"dataframe_records": [row]} for row in rows.to_dict("records")])
        for i, answer in enumerate(answers):
            assert answer.status_code == 200, answer.text
            (got,) = answer.json()["predictions"]
            assert got["predicted_Wine"] == expected["predicted_Wine"][i]
            assert got["probability"] == pytest.approx(expected["probability"][i], rel=1e-12, abs=0)
        metrics = client.get("/metrics").text
        batches = float(metrics.split('mlprojects_batch_inputs_count{model="wine"} ')[1].split()[0])
        assert 'mlprojects_batch_inputs_sum{model="wine"} 16.0' in metrics and batches < 16, metrics

        # one bad request among good ones: its own message, and the others their answers
        mixed = together(client, [{"dataframe_records": [bad]}] +
                         [{"dataframe_records": [row]} for row in rows.to_dict("records")[1:6]])
        assert mixed[0].status_code == 400 and "row 1: 'x' is not a number" in mixed[0].json()["error"]
        for i, answer in enumerate(mixed[1:], 1):
            assert answer.status_code == 200 and answer.json()["predictions"][0]["predicted_Wine"] == \
                expected["predicted_Wine"][i]


def test_a_burst_received_at_once_is_predicted_together_without_waiting(wine):
    """Requests that arrive in one turn of the event loop join one batch with no max_wait: a quick request alone
    is answered in its own handler, but only once those received with it have started and been counted (before,
    each ran to its answer before the next began, and a burst of 8 was 8 predictions)."""
    from mlprojects.serve import rest

    prep = wine.preparation
    rows = pd.DataFrame(np.random.default_rng(2).normal(size=(8, len(prep.inputs))) * np.asarray(prep.scale)
                        + np.asarray(prep.mean), columns=prep.inputs)
    expected = predict(wine, rows)
    app = rest.build({"wine": wine})

    async def call(method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """One request to the ASGI app, its body received at once (as uvicorn hands over a small request)."""
        sent = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        await app({"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
                   "root_path": "", "headers": [(b"content-type", b"application/json")], "http_version": "1.1",
                   "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1)}, receive, send)
        return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])

    async def burst():
        alone = await call("POST", "/invocations", json.dumps({"dataframe_records": [rows.iloc[0].to_dict()]}).encode())
        assert alone[0] == 200, alone  # measures a prediction's time: a quick one alone is answered in its handler
        answers = await asyncio.gather(*(call("POST", "/invocations", json.dumps({"dataframe_records": [row]})
                                              .encode()) for row in rows.to_dict("records")))
        return answers, (await call("GET", "/metrics"))[1].decode()

    answers, metrics = asyncio.run(burst())
    batches = float(metrics.split('mlprojects_batch_inputs_count{model="wine"} ')[1].split()[0])
    assert 'mlprojects_batch_inputs_sum{model="wine"} 9.0' in metrics and batches < 9, metrics
    for i, (status, body) in enumerate(answers):  # predicted as predict predicts the 8 rows: the same digits
        assert status == 200, body
        (got,) = json.loads(body)["predictions"]
        assert got["predicted_Wine"] == expected["predicted_Wine"][i]
        assert got["probability"] == pytest.approx(expected["probability"][i], rel=1e-12, abs=0)


def test_a_series_and_a_text_run_answer_what_predict_answers(tmp_path, request):
    from test_predict import smoke_run

    series = smoke_run("energy-lstm", tmp_path / "series", request)
    texts = smoke_run("text-classify", tmp_path / "text", request)
    column = series.preparation.column
    readings = series.project.prepare(series.cfg).raw_test[column].to_numpy()[: 2 * series.preparation.window]
    forecast = predict(series, pd.DataFrame({column: readings}))
    sentences = ["a good film", "a dull, boring film", "I loved every minute"]
    labelled = predict(texts, sentences)
    with pytest.raises(UserError, match="^text 2 is empty: give each text at least one word$"):
        predict(texts, ["a good film", " "])  # was left out: 1 answer for 2 texts
    http = pytest.importorskip("tritonclient.http")
    with Server({"load": series, "reviews": texts}) as url, httpx.Client(base_url=url, timeout=60) as client:
        answer = client.post("/invocations?model=load", json={"inputs": {column: readings.tolist()}})
        assert answer.status_code == 200, answer.text
        got = pd.DataFrame(answer.json()["predictions"])
        np.testing.assert_allclose(got[f"forecast_{column}"], forecast[f"forecast_{column}"], rtol=1e-12)
        answer = client.post("/invocations?model=reviews", json={"instances": sentences})
        assert answer.status_code == 200, answer.text
        got = pd.DataFrame(answer.json()["predictions"])
        assert got["label"].tolist() == labelled["label"].tolist()
        np.testing.assert_allclose(got["score"], labelled["score"], rtol=1e-5)

        triton = http.InferenceServerClient(url.removeprefix("http://"))
        tensor = http.InferInput(column, [len(readings)], "FP32")
        tensor.set_data_from_numpy(readings.astype(np.float32))
        result = triton.infer("load", [tensor])
        np.testing.assert_allclose(result.as_numpy(f"forecast_{column}"), forecast[f"forecast_{column}"], rtol=1e-5)
        tensor = http.InferInput("text", [len(sentences)], "BYTES")
        tensor.set_data_from_numpy(np.array([s.encode() for s in sentences], dtype=object))
        result = triton.infer("reviews", [tensor])
        assert result.as_numpy("label").astype(str).tolist() == labelled["label"].tolist()
        # records of a "text" column are texts too
        answer = client.post("/invocations?model=reviews", json={"instances": [{"text": s} for s in sentences]})
        assert [p["label"] for p in answer.json()["predictions"]] == labelled["label"].tolist()
        # a text that names a file of the server is that text: the file's lines were read and answered back
        secret = tmp_path / "secret.txt"
        secret.write_text("the server's own line\n")
        for path, body in [("/invocations?model=reviews", {"instances": [str(secret)]}),
                           ("/v2/models/reviews/infer", {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1],
                                                                     "data": [str(secret)]}]})]:
            answer = client.post(path, json=body)
            assert answer.status_code == 200 and "the server's own line" not in answer.text, answer.text
            assert str(secret) in answer.text
        # an empty text is refused: it was left out, and with it every later answer went to the wrong text, and in a
        # batch to the wrong request (one of two concurrent requests got the other's answer, the other none)
        with ThreadPoolExecutor(2) as pool:
            empty, other = pool.map(lambda body: client.post("/invocations?model=reviews", json=body),
                                    [{"instances": ["", "a good film"]}, {"instances": ["a dull, boring film"]}])
        assert empty.status_code == 400 and empty.json()["error"] == "instance 1 is empty: send each text with at " \
            "least one word"
        assert [p["text"] for p in other.json()["predictions"]] == ["a dull, boring film"]

        # what was answered as if it were right before: a text that is null or a list (written out as "None" and
        # "['a', 'b']"), numbers as texts, readings of shape [N, 2] (read as 2N readings), readings that overflow
        # the model's float32 (forecast null); and readings under a name the model does not have
        def v2(name, dtype, values):
            return {"name": name, "shape": list(np.shape(values)), "datatype": dtype,
                    "data": np.ravel(values).tolist()}

        window = series.preparation.window
        for path, body, message in [
            ("/invocations?model=reviews", {"instances": ["a good film", None]},
             "instance 2: null is not a text; send each text as a JSON string"),
            ("/invocations?model=reviews", {"instances": [["a", "b"]]}, "instance 1: ['a', 'b'] is not a text"),
            ("/invocations?model=reviews", {"dataframe_records": [{"text": 3}]}, "row 1: 3 is not a text"),
            ("/v2/models/reviews/infer", {"inputs": [v2("text", "FP32", [1.0, 2.0])]},
             "input text: texts are a BYTES tensor, not float32"),
            ("/v2/models/reviews/infer", {"inputs": [v2("text", "BYTES", ["a good film", " "])]},
             "text 2 is empty: send each text with at least one word"),
            ("/invocations?model=reviews", {"dataframe_records": [{"text": ""}]}, "row 1 is empty"),
            ("/invocations?model=load", {"instances": "x"},
             f"instances: give records, a dict of columns, or rows of one value, a {column}"),
            ("/v2/models/load/infer", {"inputs": [v2(column, "FP32", np.ones((window, 2)))]},
             f"input {column}: shape [{window}, 2]; a column is [N] or [N, 1]"),
            ("/v2/models/load/infer", {"inputs": [v2("Lode", "FP32", np.ones(window))]},
             f"input Lode: the model has no such input; its inputs are {column} and time (optional)"),
            ("/invocations?model=load", {"inputs": {column: [1e308] * window}},
             f"column {column} row 1: 1e+308 is too far beyond the training values for the model's float32"),
        ]:
            refused = client.post(path, json=body)
            assert refused.status_code == 400 and refused.json()["error"].startswith(message), (body, refused.text)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def serve_command(*args: str) -> tuple[Forked, str]:
    """`mlprojects serve ARGS` in its own process, once it answers /ping."""
    port = free_port()
    server = Forked(["serve", *args, "--port", str(port)])
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    with httpx.Client(timeout=2) as client:  # one client: each new one loads the CA bundle (50 ms of CPU a poll)
        while True:
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if client.get(f"{url}/ping").status_code == 200:
                    return server, url
            except httpx.HTTPError:
                time.sleep(0.2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_thousand_bad_requests_neither_stop_the_server_nor_grow_it(wine):
    good = {"dataframe_records": [dict(zip(wine.preparation.inputs, wine.preparation.mean))]}
    expected = predict(wine, pd.DataFrame(good["dataframe_records"]))["predicted_Wine"][0]
    server, url = serve_command(str(wine.path), "--max-body", "100000")
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(20):  # warm: the first answers load what every later one uses
                assert client.post("/invocations", json=good).status_code == 200
            before = rss_mb(server.pid)
            bad = [
                dict(content=b"{not json", headers={"content-type": "application/json"}),
                dict(json={"dataframe_records": [{"Alcohol": 13.0}]}),
                dict(json={"dataframe_records": [{**good["dataframe_records"][0], "Ash": "x" * 1000}]}),
                dict(json={"instances": [[1, 2]]}),
                dict(content=b"x" * 150_000),
                dict(json={"inputs": [[float("1e308")] * 13]}),
                dict(content=b"a,b\n1,2,3\n", headers={"content-type": "text/csv"}),
                dict(json={"dataframe_split": {"columns": ["Ash"], "data": [[1, 2, 3]]}}),
            ]
            statuses = set()
            for i in range(1000):
                statuses.add(client.post("/invocations" if i % 10 else "/invocations?model=nothing",
                                         **bad[i % len(bad)]).status_code)
            assert statuses <= {400, 404, 413}, statuses
            for _ in range(20):
                answer = client.post("/invocations", json=good)
                assert answer.status_code == 200 and answer.json()["predictions"][0]["predicted_Wine"] == expected
            grown = rss_mb(server.pid) - before
            assert grown < 50, f"{grown:.1f} MB"
    finally:
        server.terminate()
        server.wait(30)


def test_sigterm_answers_the_requests_in_flight_then_exits(wine):
    good = {"dataframe_records": [dict(zip(wine.preparation.inputs, wine.preparation.mean))]}
    # a batch waits 3 s for more requests: the request is in flight when the signal comes
    server, url = serve_command(str(wine.path), "--max-wait-ms", "3000")
    answers = []
    sender = threading.Thread(target=lambda: answers.append(httpx.post(f"{url}/invocations", json=good, timeout=30)))
    sender.start()
    time.sleep(1)
    server.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    with pytest.raises(httpx.ConnectError):  # no new connections
        httpx.get(f"{url}/ping", timeout=2)
    sender.join(30)
    assert answers and answers[0].status_code == 200, answers
    assert server.wait(30) in (0, -signal.SIGTERM)


def sockets_on(port: int, state: str) -> set[str]:
    """The inodes of the TCP sockets on local PORT in STATE (/proc/net/tcp's code: 01 established, 0A listening)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def connections_by_process(pids: list[int], port: int) -> dict[int, int]:
    """How many established TCP connections on local PORT each of PIDS holds (from /proc)."""
    inodes = sockets_on(port, "01")
    counts = {}
    for pid in pids:
        held = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        found = sum(link.startswith("socket:[") and link[8:-1] in inodes for link in held)
        if found:
            counts[pid] = found
    return counts


@pytest.mark.slow
def test_workers_share_the_port_their_metrics_and_the_cores(wine, monkeypatch, tmp_path):
    from mlprojects import cores

    good = {"dataframe_records": [dict(zip(wine.preparation.inputs, wine.preparation.mean))]}
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    server, url = serve_command(str(wine.path), "--workers", "2")
    try:
        for _ in range(12):  # a new connection each: the kernel hands them to either worker
            assert httpx.post(f"{url}/invocations", json=good, timeout=30).status_code == 200
        metrics = httpx.get(f"{url}/metrics").text
        assert 'mlprojects_requests_total{model="wine",route="invocations",status="200"} 12.0' in metrics, metrics
        # the page works behind both workers: a client's join and its event stream come on different connections,
        # which may reach different workers (Gradio keeps the queue in one process: one of them serves the page)
        from gradio_client import Client, handle_file
        from test_serve import CHROMIUM, app_page, wait_for_prediction

        expected = predict(wine, pd.DataFrame(good["dataframe_records"])).iloc[0]
        for _ in range(8):  # a new client each time, with connections of its own
            _, line, row = Client(f"{url}/", verbose=False).predict(*wine.preparation.mean, api_name="/predict")
            assert row["predicted_Wine"] == expected["predicted_Wine"] and expected["predicted_Wine"] in line
            assert row["probability"] == pytest.approx(expected["probability"], rel=1e-9)
        raw = wine.project.prepare(wine.cfg).raw_test  # an upload, streamed through whichever worker took it
        raw.to_csv(tmp_path / "rows.csv", index=False)
        table, _ = Client(f"{url}/", verbose=False).predict(handle_file(str(tmp_path / "rows.csv")),
                                                            api_name="/predict_csv")
        column = table["headers"].index("predicted_Wine")
        assert [row[column] for row in table["data"]] == list(predict(wine, raw)["predicted_Wine"])
        if Path(CHROMIUM).exists():  # and a browser, whose page loads its scripts and streams through them too
            with app_page(f"{url}/") as page:
                page.locator("#field-Proline input").first.fill("1500")
                page.locator("#predict").click()
                assert "cultivar" in wait_for_prediction(page)
        if sys.platform.startswith("linux"):  # each worker takes its share of the cores
            def children_of(pid):
                return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

            # forked from multiprocessing's forkserver, the server's child (not its resource tracker), which
            # imported what the workers need once: no worker is a new interpreter of its own
            forkservers = [pid for pid in children_of(server.pid)
                           if "forkserver" in Path(f"/proc/{pid}/cmdline").read_text()]
            assert len(forkservers) == 1
            children = children_of(forkservers[0])
            workers = [dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
                            if "=" in item) for pid in children]
            assert len(workers) == 2
            assert {env.get("OMP_NUM_THREADS") for env in workers} == {str(cores.share(2))}
            # 32 connections opened at once, as a load balancer or wrk keeps them, are spread over both workers
            port, deadline = int(url.rsplit(":", 1)[1]), time.monotonic() + 120
            while len(sockets_on(port, "0A")) < 2:  # each worker listens on a socket of its own once it is up
                assert time.monotonic() < deadline, "the second worker never listened"
                time.sleep(0.1)
            held = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
            try:
                request = (f"GET /ping HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n").encode()
                for connection in held:
                    connection.sendall(request)
                for connection in held:
                    assert connection.recv(4096).startswith(b"HTTP/1.1 200")
                counts = connections_by_process([int(pid) for pid in children], port)
                assert len(counts) == 2 and min(counts.values()) >= 4, counts
            finally:
                for connection in held:
                    connection.close()
    finally:
        server.terminate()
        assert server.wait(60) in (0, -signal.SIGTERM)
