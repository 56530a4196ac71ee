#!/usr/bin/env python3
"""The FastAPI peer: what a startup would write instead of an inference server.

Serves models/mlp_torch (TorchScript) at POST /v2/models/mlp_torch/infer with the same KServe v2
JSON body as Fabrik, using Debian's python3-fastapi, python3-uvicorn and python3-torch:

    python3 Benchmarks/Peers/fastapi_peer.py --port 9100 --workers 2
"""

import argparse
import os

import torch
import uvicorn
from fastapi import FastAPI, Request

MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "mlp_torch", "1", "model.pt")

torch.set_num_threads(1)
model = torch.jit.load(MODEL_PATH).eval()
app = FastAPI()


@app.post("/v2/models/mlp_torch/infer")
async def infer(request: Request):
    body = await request.json()
    tensor = body["inputs"][0]
    features = torch.tensor(tensor["data"], dtype=torch.float32).reshape(tensor["shape"])
    with torch.inference_mode():
        probabilities = model(features)
    return {
        "model_name": "mlp_torch",
        "model_version": "1",
        "outputs": [{
            "name": "OUTPUT__0",
            "datatype": "FP32",
            "shape": list(probabilities.shape),
            "data": probabilities.reshape(-1).tolist(),
        }],
    }


@app.get("/v2/models/mlp_torch")
async def metadata():
    return {
        "name": "mlp_torch",
        "versions": ["1"],
        "platform": "pytorch_libtorch",
        "inputs": [{"name": "INPUT__0", "datatype": "FP32", "shape": [-1, 16]}],
        "outputs": [{"name": "OUTPUT__0", "datatype": "FP32", "shape": [-1, 4]}],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--workers", type=int, default=2)
    arguments = parser.parse_args()
    uvicorn.run("fastapi_peer:app", host="127.0.0.1", port=arguments.port, workers=arguments.workers,
                log_level="warning", app_dir=os.path.dirname(os.path.abspath(__file__)))
