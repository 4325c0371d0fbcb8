"""The peer of bench_serve.py, fixed so that it cannot be tuned: what a user writes in an afternoon to serve an
exported model. One Starlette app on uvicorn (one worker), one onnxruntime session of the file (one thread), one
request at a time through the session. Tables: JSON records standardised with the means and scales in the file's
metadata; images: base64 files decoded and scaled to [0, 1].

    python benchmarks/serve_peer.py MODEL.onnx PORT
"""

import base64
import io
import json
import sys

import numpy as np
import onnxruntime
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 1
session = onnxruntime.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
meta = {key: json.loads(value) for key, value in session.get_modelmeta().custom_metadata_map.items()
        if key != "mlprojects.project"}
prep = meta["preparation"]


async def invocations(request):
    body = await request.json()
    if "columns" in prep:  # a table
        rows = np.array([[row[c] for c in prep["columns"]] for row in body["dataframe_records"]], np.float32)
        x = ((rows - np.array(prep["mean"])) / np.array(prep["scale"])).astype(np.float32)
    else:  # images
        files = [Image.open(io.BytesIO(base64.b64decode(i["b64"]))).convert("L") for i in body["instances"]]
        x = np.stack([np.asarray(f, np.float32)[None] / 255 for f in files])
    scores = session.run(None, {meta["input"]["name"]: x})[0]
    return JSONResponse({"predictions": [meta["labels"][i] for i in scores.argmax(1)]})


uvicorn.run(Starlette(routes=[Route("/invocations", invocations, methods=["POST"])]), host="127.0.0.1",
            port=int(sys.argv[2]), log_level="warning", workers=1)
