#!/usr/bin/env bash
# Memory growth of a default server under steady traffic: the Release fabrik on the sample
# models, WARMUP inferences (default 2,000), then MEASURED more (default 10,000), HTTP JSON on
# `mlp` and `simple` in turn over 8 keep-alive connections. Prints resident memory (and, with
# dotnet-counters on the PATH, the managed heap's committed bytes) after the warm-up and at the
# end, and the growth between them. Issue target: under 20 MB of growth.
#   Tests/Soak/memory-growth.sh [WARMUP] [MEASURED]
set -euo pipefail
warmup="${1:-2000}"
measured="${2:-10000}"
cd "$(dirname "$0")/../.."
dotnet build Runtime/Runtime.csproj -c Release -nologo -v q
port=18310
log="$(mktemp)"
dotnet Runtime/bin/Release/net10.0/fabrik.dll --model-repository models --http-port "$port" \
    --allow-grpc=false --allow-metrics=false > "$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
until curl -sf "localhost:$port/v2/health/ready" > /dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.5
done
grep -m1 "memory:" "$log" || true

# Managed heap committed (MiB) from the runtime's own counters, when the tool is installed.
gc_committed() {
    command -v dotnet-counters > /dev/null || { echo "-"; return; }
    local csv; csv="$(mktemp --suffix=.csv)"
    dotnet-counters collect -p "$pid" --counters System.Runtime --format csv -o "$csv" \
        --duration 00:00:00:03 > /dev/null 2>&1 || true
    awk -F, '/memory.committed_size/ { value = $NF } END { print (value == "" ? "-" : sprintf("%.1f MiB", value / 1048576)) }' "$csv"
    rm -f "$csv"
}
rss_mib() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }

drive() {
    /usr/bin/python3 - "$port" "$1" <<'PY'
import http.client, json, sys, threading
port, total = int(sys.argv[1]), int(sys.argv[2])
bodies = []
for model in ("mlp", "simple"):
    sample = json.load(open(f"models/{model}/samples.json"))["samples"][0]
    bodies.append((f"/v2/models/{model}/infer", json.dumps({"inputs": sample["inputs"]}).encode()))
failures = []
def worker(count, offset):
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(count):
        path, body = bodies[(i + offset) % 2]
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            failures.append(response.status)
threads = [threading.Thread(target=worker, args=(total // 8, n)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
if failures:
    sys.exit(f"{len(failures)} requests failed, first status {failures[0]}")
PY
}

drive "$warmup"
rss_warm=$(rss_mib); gc_warm=$(gc_committed)
drive "$measured"
rss_end=$(rss_mib); gc_end=$(gc_committed)
echo "after $warmup warm-up inferences: RSS $rss_warm MiB, managed heap committed $gc_warm"
echo "after $measured more:            RSS $rss_end MiB, managed heap committed $gc_end"
awk -v a="$rss_warm" -v b="$rss_end" 'BEGIN { printf "growth: %.1f MiB RSS\n", b - a }'
