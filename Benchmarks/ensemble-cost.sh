#!/usr/bin/env bash
# What an ensemble costs against its steps called by the client: latency at concurrency 1 of the
# sample ensemble `simple_chain` (two ONNX steps, `simple` twice, run inside the server) ÷ the
# same two calls made by the client one after the other (`simple`, then `simple` on the first
# answer's outputs), over HTTP JSON with the same client for both (-- ensemble-cost in
# Benchmarks). Below 1, the ensemble saves the second round trip and the client's decoding and
# encoding of the intermediate tensors.
# The server is pinned to SERVER_CPU and the client to CLIENT_CPU; run it on an otherwise idle machine.
# Needs a Release build and taskset.
#
#   Benchmarks/ensemble-cost.sh        (SECONDS_PER_RUN, default 10; ROUNDS, default 3;
#                                        SERVER_CPU and CLIENT_CPU, default 1 and 0)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-3}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
PORT=${PORT:-18500}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

FABRIK=Runtime/bin/Release/net10.0/fabrik.dll
BENCHMARKS=Benchmarks/bin/Release/net10.0/Fabrik.Benchmarks.dll
for built in "$FABRIK" "$BENCHMARKS"; do
    [[ -f $built ]] || { echo "build Release first: dotnet build -c Release Fabrik.slnx" >&2; exit 2; }
done
command -v taskset >/dev/null || { echo "taskset is not installed" >&2; exit 2; }

taskset -c "$SERVER_CPU" dotnet "$FABRIK" --model-repository models --http-port "$PORT" --allow-grpc=false --allow-metrics=false \
    --log-verbose=0 > "$WORK/server.log" 2>&1 &
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$PORT/v2/models/simple_chain/ready" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/v2/models/simple_chain/ready" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

taskset -c "$CLIENT_CPU" dotnet "$BENCHMARKS" ensemble-cost --url "http://127.0.0.1:$PORT" --seconds "$SECONDS_PER_RUN" --rounds "$ROUNDS"
