#!/usr/bin/env bash
# Regenerates docs/performance.md: builds Release, then measures Fabrik, the minimal Kestrel +
# ONNX Runtime endpoint, the FastAPI + PyTorch peer and ONNX Runtime in process, one at a time,
# on this machine, with our load generator and with C clients (wrk for HTTP, h2load for gRPC).
# Takes about a quarter of an hour; --external-seconds N shortens the C clients' runs (default 8).
# The FastAPI peer needs Debian's python3-fastapi, python3-uvicorn and python3-torch, the C
# clients wrk and nghttp2-client; they are installed here when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."

# A fresh machine has no package lists yet; fetch them once, before the first install.
apt_install() {
    [[ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

if ! /usr/bin/python3 -c "import fastapi, uvicorn, torch, torchvision, onnx" 2>/dev/null; then
    apt_install python3-fastapi python3-uvicorn python3-torch python3-torchvision python3-onnx
fi
# ResNet-50 (100 MB, random weights) is generated on demand into artifacts/models, never committed.
if [[ ! -f artifacts/models/resnet50/1/model.onnx ]]; then
    /usr/bin/python3 models/generate.py --resnet50
fi
if ! command -v wrk >/dev/null || ! command -v h2load >/dev/null; then
    apt_install wrk nghttp2-client
fi
dotnet build -c Release Fabrik.slnx
dotnet run -c Release --no-build --project Benchmarks -- report --out docs/performance.md "$@"
