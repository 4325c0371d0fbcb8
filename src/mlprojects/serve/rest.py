"""REST for finished runs: MLflow's scoring protocol and the Open Inference Protocol (v2), with Prometheus metrics.

One ASGI app (FastAPI, on uvicorn) serves every run it is given, each under a name:

- MLflow's scoring protocol, as ``mlflow models serve`` answers it: ``POST /invocations`` (``?model=NAME`` when
  several runs are served) taking ``{"dataframe_split": ...}``, ``{"dataframe_records": [...]}``,
  ``{"instances": ...}``, ``{"inputs": ...}`` or a ``text/csv`` body, answering ``{"predictions": [...]}``;
  ``GET /ping``, ``/health``, ``/version``.
- The Open Inference Protocol (Triton, KServe, Seldon): ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``,
  ``GET /v2/models/{name}`` (its inputs' names, datatypes and shapes), ``/v2/models/{name}/ready``, and
  ``POST /v2/models/{name}/infer``, in JSON or with the binary-data extension (``Inference-Header-Content-Length``)
  that ``tritonclient`` uses; options such as ``top_k`` and ``backtest`` as the request's ``parameters``.
- ``GET /metrics``: requests and errors by model and route, a latency histogram (``prometheus-client``).

The server never looks at the kind of input: each run's kind (``mlprojects.inputs``) decodes a request's body
(``from_request``, ``from_v2``), describes its inputs (``v2_inputs``) and picks the columns that answer
(``answer``); every prediction goes through :func:`mlprojects.predict.predict`, as ``mlprojects predict`` does.
A bad request is a 4xx with ``{"error": "one line"}`` and never stops the server; a body over ``max_body`` is
413, a prediction past ``timeout`` seconds 504.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import secrets
import struct
import time
from base64 import b64decode
from dataclasses import dataclass
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
import orjson
import pandas as pd
from fastapi import Request  # at the top: FastAPI reads the routes' annotations by name
from fastapi.responses import Response

from mlprojects.errors import UserError
from mlprojects.rundir import Run
from mlprojects.serve.batcher import Answer

MAX_BODY = 10 * 1024 * 1024
MAX_BATCH = 64
TIMEOUT = 30.0
V2_TYPES = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
            "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
            "FP32": np.float32, "FP64": np.float64}


def loads(body: bytes) -> Any:
    """A body's JSON, read by orjson (0.8 µs for a wine row's request, json 5.2); Python's json reads what orjson
    refuses, such as the NaN and Infinity that Python's json.dumps writes, and raises for what is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


class JSONResponse(Response):
    """JSON written by orjson (NumPy's numbers as they are, NaN as null): 0.3 µs for a wine row's answer, Starlette's
    json.dumps 4.1."""
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Credentials:
    user: str
    password: str

    def accept(self, header: str) -> bool:
        """HTTP basic auth with USER:PASSWORD, or ``Bearer PASSWORD``."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return secrets.compare_digest(value.strip(), self.password)
        if scheme.lower() == "basic":
            try:
                user, _, password = b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return secrets.compare_digest(user, self.user) and secrets.compare_digest(password, self.password)
        return False


def v2_tensors(body: bytes, header_length: str | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(the request's JSON, its input tensors by name) of an inference request, in JSON or with the binary-data
    extension (the JSON header's first HEADER_LENGTH bytes, then each input's raw bytes in order)."""
    size = int(header_length) if header_length else len(body)
    try:
        request = loads(body[:size])
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, "the body is not JSON (an inference request)") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise BadRequest(400, "an inference request has a list of inputs: {\"inputs\": [{\"name\", \"shape\", "
                              "\"datatype\", \"data\"}]}")
    tensors, at = {}, size
    for given in request["inputs"]:
        try:
            name, shape, datatype = given["name"], [int(n) for n in given["shape"]], given["datatype"]
        except (KeyError, TypeError, ValueError):
            raise BadRequest(400, "every input has a name, a shape and a datatype") from None
        binary = (given.get("parameters") or {}).get("binary_data_size")
        if datatype == "BYTES":
            if binary is not None:
                chunk, at, items = body[at:at + binary], at + binary, []
                offset = 0
                while offset < len(chunk):
                    (length,) = struct.unpack_from("<I", chunk, offset)
                    items.append(chunk[offset + 4:offset + 4 + length])
                    offset += 4 + length
            else:
                items = list(np.asarray(given.get("data", []), dtype=object).ravel())
            values = np.empty(len(items), dtype=object)
            values[:] = items
        elif datatype in V2_TYPES:
            if binary is not None:
                values, at = np.frombuffer(body[at:at + binary], dtype=V2_TYPES[datatype]), at + binary
            else:
                try:
                    values = np.asarray(given.get("data", []), dtype=V2_TYPES[datatype]).ravel()
                except (TypeError, ValueError):
                    raise BadRequest(400, f"input {name}: its data are not {datatype}") from None
        else:
            raise BadRequest(400, f"input {name}: datatype {datatype!r} is not one of BYTES, "
                                  f"{', '.join(V2_TYPES)}")
        negative = any(n < 0 for n in shape)
        if negative or math.prod(shape) != values.size:  # Python's integers: no overflow
            held = "a negative size" if negative else f"{math.prod(shape):,} values"
            raise BadRequest(400, f"input {name}: shape {shape} holds {held}, the data {values.size:,}")
        if name in tensors:
            raise BadRequest(400, f"input {name} is given twice")
        tensors[name] = values.reshape(shape)
    return request, tensors


def v2_outputs(answer: Answer, columns: list[str]) -> list[dict[str, Any]]:
    """Each of COLUMNS as an output tensor: numbers as FP64 (integers INT64), the rest as BYTES."""
    outputs = []
    for column in columns:
        code, data = answer.array(column).dtype.kind, answer.values(column)  # NumPy's letter for the values' type
        if code == "b":
            datatype = "BOOL"
        elif code in "iu":
            datatype = "INT64"
        elif code == "f":
            datatype, data = "FP64", [float(value) for value in data]
        else:
            datatype, data = "BYTES", [str(plain(value)) for value in data]
        outputs.append({"name": str(column), "datatype": datatype, "shape": [len(answer)], "data": data})
    return outputs


def plain(value: Any) -> Any:
    """A cell as JSON has it: NumPy numbers as Python's (every digit kept), times in ISO 8601, NaN as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    return None if isinstance(value, float) and value != value else value


def records(answer: Answer, columns: list[str]) -> list[dict[str, Any]]:
    """ANSWER's rows as JSON objects of COLUMNS (built column by column: pandas' to_dict is 3x slower on a row)."""
    names = [str(column) for column in columns]
    values = [[plain(value) for value in answer.values(column)] for column in columns]
    return [dict(zip(names, row)) for row in zip(*values)]


def build(models: dict[str, Run], credentials: Credentials | None = None, max_body: int = MAX_BODY,
          timeout: float = TIMEOUT, max_batch: int = MAX_BATCH, max_wait: float = 0.0, mount=None):
    """The REST app serving MODELS (name -> finished run); concurrent requests to a model are predicted together,
    up to MAX_BATCH inputs, after waiting MAX_WAIT seconds for more (``mlprojects.serve.batcher``). MOUNT(app): adds
    what else the FastAPI app serves (the page). The two prediction routes, ``POST /invocations`` and
    ``/v2/models/NAME/infer``, are answered ahead of FastAPI's middleware and routing, which took 0.16 ms of a
    one-row request's 1.1 ms of CPU here; everything else goes through FastAPI."""
    import contextlib

    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

    from mlprojects.serve.batcher import Batcher

    __version__ = package_version("mlprojects")  # the installed package's (the package itself is a layer above)

    registry = CollectorRegistry()
    requests = Counter("mlprojects_requests", "requests answered", ["model", "route", "status"], registry=registry)
    latency = Histogram("mlprojects_request_seconds", "time to answer a request", ["model", "route"],
                        registry=registry, buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
                                                    1, 2, 5, 10, 30))
    sizes = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096)
    rows = Histogram("mlprojects_request_inputs", "inputs per request", ["model"], registry=registry, buckets=sizes)
    batch = Histogram("mlprojects_batch_inputs", "inputs per prediction (a batch of requests)", ["model"],
                      registry=registry, buckets=sizes)
    batchers = {name: Batcher(run, max_batch, max_wait, batch.labels(name).observe) for name, run in models.items()}
    inputs_per_request = {name: rows.labels(name) for name in models}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        for batcher in batchers.values():
            batcher.close()

    app = FastAPI(title="mlprojects", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def model(name: str | None) -> tuple[str, Run]:
        if name is None:
            if len(models) == 1:
                return next(iter(models.items()))
            raise BadRequest(400, f"several models are served: name one with ?model= ({', '.join(models)})")
        if name not in models:
            raise BadRequest(404, f"no model {name!r}: this server has {', '.join(models)}")
        return name, models[name]

    async def body_of(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and int(declared) > max_body:
            raise BadRequest(413, f"the body is {int(declared):,} bytes, over the limit of {max_body:,} (--max-body)")
        body = bytearray()  # appended in place: a bytes += per chunk copies the whole body each time
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                raise BadRequest(413, f"the body is over the limit of {max_body:,} bytes (--max-body)")
        return bytes(body)

    async def answer(name: str, run: Run, inputs: Any, options: dict[str, Any]) -> tuple[Answer, list[str]]:
        """(predict's rows for one request, the columns that answer), in a batch with others at the time."""
        try:
            async with asyncio.timeout(timeout):  # wait_for's task of its own cost 0.2 ms a request
                result = await batchers[name].predict(inputs, options, alone=predicting == 1)
        except TimeoutError:
            raise BadRequest(504, f"the prediction took more than {timeout:g} s (--timeout)") from None
        except UserError as problem:
            raise BadRequest(400, str(problem)) from None
        inputs_per_request[name].observe(len(result))
        return result, list(result)

    def guarded(route: str):
        """A route's handler answering every failure as one JSON line, counted and timed."""
        def wrap(handler):
            @functools.wraps(handler)
            async def handle(request: Request, **params):
                started, status = time.perf_counter(), 500
                name = params.get("name") or request.query_params.get("model") or \
                    (next(iter(models)) if len(models) == 1 else "")
                name = name if name in models else ""  # a label per name asked for would grow without end
                try:
                    if credentials is not None and not credentials.accept(request.headers.get("authorization", "")):
                        status = 401
                        return JSONResponse({"error": "this server needs credentials (--auth): HTTP basic, or "
                                                      "Authorization: Bearer PASSWORD"}, status_code=401,
                                            headers={"WWW-Authenticate": 'Basic realm="mlprojects"'})
                    response = await handler(request, **params)
                    status = response.status_code
                    return response
                except BadRequest as problem:
                    status = problem.status
                    return error(problem.status, str(problem))
                except UserError as problem:
                    status = 400
                    return error(400, str(problem))
                finally:
                    count, timer = measures(name, route, status)
                    count.inc()
                    timer.observe(time.perf_counter() - started)
            return handle
        return wrap

    @functools.cache  # labels() takes a lock and builds a key each call: 10 us of a one-row request's 280 here
    def measures(name: str, route: str, status: int):
        """The request counter and the latency histogram of one model, route and status."""
        return requests.labels(name, route, str(status)), latency.labels(name, route)

    # --- MLflow's scoring protocol -------------------------------------------------------------------------

    @app.get("/ping")
    @app.get("/health")
    async def ping():
        return PlainTextResponse("\n")

    @app.get("/version")
    async def version():
        return PlainTextResponse(__version__)

    @app.post("/invocations")
    @guarded("invocations")
    async def invocations(request: Request):
        name, run = model(request.query_params.get("model"))
        body = await body_of(request)
        kind = run.project.inputs
        if request.headers.get("content-type", "").split(";")[0].strip() == "text/csv":
            inputs = kind.from_request(run, body.decode("utf-8", "replace"))
            options = {}
        else:
            try:
                payload = loads(body)
            except (ValueError, UnicodeDecodeError):
                raise BadRequest(400, "the body is not JSON: send {\"dataframe_split\": ...}, "
                                      "{\"dataframe_records\": ...}, {\"instances\": ...}, {\"inputs\": ...} or "
                                      "text/csv") from None
            if not isinstance(payload, dict):
                raise BadRequest(400, "the body is a JSON object: {\"dataframe_records\": [...]} or another form")
            options = _options(payload.get("params") or {})
            inputs = kind.from_request(run, payload)
        return JSONResponse({"predictions": records(*await answer(name, run, inputs, options))})

    # --- the Open Inference Protocol (v2) --------------------------------------------------------------------

    @app.get("/v2")
    async def server_metadata():
        return {"name": "mlprojects", "version": __version__, "extensions": ["binary_tensor_data"]}

    @app.get("/v2/health/live")
    @app.get("/v2/health/ready")
    async def live():
        return Response(status_code=200)

    @app.get("/v2/models/{name}")
    @guarded("metadata")
    async def model_metadata(request: Request, name: str):
        name, run = model(name)
        return JSONResponse({"name": name, "versions": ["1"], "platform": f"mlprojects:{run.name}",
                             "inputs": run.project.inputs.v2_inputs(run)})

    @app.get("/v2/models/{name}/ready")
    @guarded("ready")
    async def model_ready(request: Request, name: str):
        model(name)
        return Response(status_code=200)

    @app.post("/v2/models/{name}/infer")
    @guarded("infer")
    async def infer(request: Request, name: str):
        name, run = model(name)
        body = await body_of(request)
        given, tensors = v2_tensors(body, request.headers.get("inference-header-content-length"))
        inputs = run.project.inputs.from_v2(run, tensors)
        result = await answer(name, run, inputs, _options(given.get("parameters") or {}))
        return JSONResponse({"model_name": name, "model_version": "1", "id": given.get("id", ""),
                             "outputs": v2_outputs(*result)})

    @app.get("/metrics")
    async def metrics():
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # several worker processes: the sum of their files
            from prometheus_client import multiprocess

            every = CollectorRegistry()
            multiprocess.MultiProcessCollector(every)
            return Response(generate_latest(every), media_type=CONTENT_TYPE_LATEST)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    if mount is not None:
        mount(app)
    prefix, suffix = "/v2/models/", "/infer"

    predicting = 0  # prediction requests being received, predicted or answered: with one, none waits for others

    async def serve(scope, receive, send):
        nonlocal predicting
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            name = path[len(prefix):-len(suffix)] if path.startswith(prefix) and path.endswith(suffix) else ""
            route = invocations if path == "/invocations" else \
                functools.partial(infer, name=name) if name and "/" not in name else None
            if route is not None:
                predicting += 1
                try:
                    # one turn of the loop: requests already received start and count themselves, so that a burst
                    # is batched (without it each ran to its answer before the next began, and 8 clients lost 15%)
                    await asyncio.sleep(0)
                    return await (await route(Request(scope, receive)))(scope, receive, send)
                finally:
                    predicting -= 1
        await app(scope, receive, send)

    return serve


def _options(given: Any) -> dict[str, Any]:
    """predict's options among a request's parameters: top_k (a whole number), backtest and strict (booleans)."""
    if not isinstance(given, dict):
        raise BadRequest(400, f"the parameters are a JSON object, such as {{\"top_k\": 3}}, not {type(given).__name__}")
    options: dict[str, Any] = {}
    if "top_k" in given:
        if not isinstance(given["top_k"], int) or isinstance(given["top_k"], bool):
            raise BadRequest(400, f"top_k={given['top_k']!r}: a whole number")
        options["top_k"] = given["top_k"]
    for flag in ("backtest", "strict"):
        if flag in given:
            if not isinstance(given[flag], bool):
                raise BadRequest(400, f"{flag}={given[flag]!r}: true or false")
            options[flag] = given[flag]
    return options
