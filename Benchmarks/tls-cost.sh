#!/usr/bin/env bash
# What TLS and API keys cost the server per request, with the client on another core: three
# Fabrik servers (plain, TLS, TLS + API keys) and the minimal Kestrel endpoint with the same
# certificate (minimal-tls, the floor for a TLS listener) pinned to one CPU, wrk (HTTP/1.1, binary
# `simple`, concurrency 32) pinned to another, measured alternately over rounds; then `cnn`'s
# 48 KiB inputs on the plain and the TLS + API keys servers (cnn-plain, cnn-tls+keys). Prints, per round, each
# server's throughput and the server's own CPU time per request (utime + stime from /proc over
# the run, divided by the requests wrk completed), then the medians and the ratios to plain.
# With perf available (and root), it also counts OpenSSL's SSL_read and SSL_write calls per
# request in the TLS server (uprobes), which shows how many TLS records a request costs.
# Needs a Release build, wrk, openssl and taskset, and at least two CPUs.
#
#   Benchmarks/tls-cost.sh [ROUNDS]      (SECONDS_PER_RUN, default 8; SERVER_CPU and CLIENT_CPU,
#                                          default 1 and 0)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

FABRIK=Runtime/bin/Release/net10.0/fabrik.dll
BENCHMARKS=Benchmarks/bin/Release/net10.0/Fabrik.Benchmarks.dll
[[ -f $FABRIK && -f $BENCHMARKS ]] || { echo "build Release first: dotnet build -c Release Fabrik.slnx" >&2; exit 2; }
for tool in wrk openssl taskset python3; do
    command -v $tool >/dev/null || { echo "$tool is not installed" >&2; exit 2; }
done

# A CA and a server certificate for localhost (ECDSA P-256), and a key file holding the SHA-256
# of one random key, made for this run.
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/ca.key" 2>/dev/null
openssl req -x509 -new -key "$WORK/ca.key" -subj "/CN=tls-cost CA" -days 1 -out "$WORK/ca.pem" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$WORK/server.key"
openssl req -new -key "$WORK/server.key" -subj "/CN=localhost" -out "$WORK/server.csr" 2>/dev/null
printf "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n" > "$WORK/ext.cnf"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 \
    -extfile "$WORK/ext.cnf" -out "$WORK/server.pem" 2>/dev/null
KEY=$(openssl rand -hex 32)
printf '{"keys": [{"id": "tls-cost", "sha256": "%s", "scopes": ["infer:*", "stats"]}]}\n' \
    "$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)" > "$WORK/keys.json"

# The binary request for simple: a JSON header naming two INT32[1,16] inputs, then their bytes.
python3 - "$WORK" "$KEY" <<'PY'
import json, struct, sys
work, key = sys.argv[1], sys.argv[2]
header = json.dumps({"inputs": [{"name": n, "shape": [1, 16], "datatype": "INT32", "parameters": {"binary_data_size": 64}} for n in ("INPUT0", "INPUT1")],
                     "outputs": [{"name": n, "parameters": {"binary_data": True}} for n in ("OUTPUT0", "OUTPUT1")]}).encode()
open(f"{work}/body.bin", "wb").write(header + struct.pack("<16i", *range(16)) + struct.pack("<16i", *[1] * 16))
script = f'''local f = io.open("{work}/body.bin", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = "{len(header)}"
'''
open(f"{work}/plain.lua", "w").write(script)
open(f"{work}/keyed.lua", "w").write(script + f'wrk.headers["Authorization"] = "Bearer {key}"\n')

# cnn: one FP32[1,3,64,64] image (48 KiB), output back as raw bytes.
cnn_header = json.dumps({"inputs": [{"name": "INPUT0", "shape": [1, 3, 64, 64], "datatype": "FP32", "parameters": {"binary_data_size": 3 * 64 * 64 * 4}}],
                         "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": True}}]}).encode()
open(f"{work}/cnn.bin", "wb").write(cnn_header + struct.pack(f"<{3 * 64 * 64}f", *[(i % 255) / 255.0 for i in range(3 * 64 * 64)]))
cnn = script.replace("body.bin", "cnn.bin").replace(f'"{len(header)}"', f'"{len(cnn_header)}"')
open(f"{work}/cnn-plain.lua", "w").write(cnn)
open(f"{work}/cnn-keyed.lua", "w").write(cnn + f'wrk.headers["Authorization"] = "Bearer {key}"\n')
PY

TLS=(--http-tls-cert "$WORK/server.pem" --http-tls-key "$WORK/server.key")
declare -A PORT=([plain]=18100 [tls]=18200 [tls+keys]=18300 [minimal-tls]=18400)
declare -A PID
start() { # name flags...
    local name=$1; shift
    taskset -c "$SERVER_CPU" dotnet "$FABRIK" --model-repository models --http-port "${PORT[$name]}" \
        --allow-grpc=false --allow-metrics=false "$@" > "$WORK/$name.log" 2>&1 &
    PID[$name]=$!
}
start plain
start tls "${TLS[@]}"
start tls+keys "${TLS[@]}" --auth-keys "$WORK/keys.json"
taskset -c "$SERVER_CPU" dotnet "$BENCHMARKS" minimal --port "${PORT[minimal-tls]}" --tls-cert "$WORK/server.pem" --tls-key "$WORK/server.key" \
    > "$WORK/minimal-tls.log" 2>&1 &
PID[minimal-tls]=$!
for name in plain tls tls+keys minimal-tls; do
    scheme=http path=/v2/health/ready
    [[ $name == plain ]] || scheme=https
    [[ $name == minimal-tls ]] && path=/v2/models/simple
    for _ in $(seq 1 120); do curl -skf "$scheme://localhost:${PORT[$name]}$path" >/dev/null && break; sleep 0.5; done
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICKS=$(getconf CLK_TCK)
measure() { # name: appends "name rps us_per_request"
    local name=$1 server=${1#cnn-} model=simple scheme=https lua=plain.lua
    [[ $name == cnn-* ]] && model=cnn lua=cnn-plain.lua
    [[ $server == plain ]] && scheme=http
    [[ $server == tls+keys ]] && lua=${lua/plain/keyed}
    local before after out rps
    before=$(cpu_ticks "${PID[$server]}")
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" -s "$WORK/$lua" "$scheme://localhost:${PORT[$server]}/v2/models/$model/infer")
    after=$(cpu_ticks "${PID[$server]}")
    if grep -q "Non-2xx" <<<"$out"; then echo "$name: non-2xx responses" >&2; exit 1; fi
    rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
    python3 -c "print('$name', $rps, ($after - $before) / $TICKS * 1e6 / ($rps * $SECONDS_PER_RUN))" | tee -a "$WORK/results"
}

# A warm-up run each, not counted.
NAMES=(plain tls tls+keys minimal-tls cnn-plain cnn-tls+keys)
for name in "${NAMES[@]}"; do measure "$name" > /dev/null; done
: > "$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    for name in "${NAMES[@]}"; do measure "$name"; done
done

python3 Benchmarks/cost-summary.py "$WORK/results" "$ROUNDS" "wrk on another" \
    tls:plain tls+keys:plain tls+keys:minimal-tls cnn-tls+keys:cnn-plain

# TLS records per request: OpenSSL calls in the TLS server while wrk runs (root and perf only).
if command -v perf >/dev/null && [[ $(id -u) == 0 ]]; then
    LIBSSL=$(ldconfig -p | awk '/libssl\.so\.3 / { print $NF; exit }')
    perf probe -q -d 'probe_libssl:SSL_*' 2>/dev/null || true
    if [[ -n $LIBSSL ]] && perf probe -q -x "$LIBSSL" SSL_read 2>/dev/null && perf probe -q -x "$LIBSSL" SSL_write 2>/dev/null; then
        taskset -c "$CLIENT_CPU" wrk -t1 -c32 -d6s -s "$WORK/plain.lua" "https://localhost:${PORT[tls]}/v2/models/simple/infer" > "$WORK/wrk.txt" &
        sleep 1
        count() { curl -sk "https://localhost:${PORT[tls]}/v2/models/simple/stats" | python3 -c "import json, sys; print(json.load(sys.stdin)['model_stats'][0]['inference_count'])"; }
        first=$(count)
        perf stat -x, -e probe_libssl:SSL_read,probe_libssl:SSL_write -p "${PID[tls]}" -- sleep 4 2> "$WORK/perf.csv"
        last=$(count)
        wait %?wrk 2>/dev/null || true
        perf probe -q -d 'probe_libssl:SSL_*' 2>/dev/null || true
        python3 - "$WORK/perf.csv" "$((last - first))" <<'PY'
import sys
counts = {line.split(",")[2].split(":")[1]: int(line.split(",")[0]) for line in open(sys.argv[1]) if "probe_libssl" in line}
requests = int(sys.argv[2])
print(f"  TLS records per request (OpenSSL calls ÷ requests counted around them, {requests} requests; about 1 is one record each way): "
      + ", ".join(f"{name} {count / requests:.2f}" for name, count in sorted(counts.items())))
PY
    fi
fi
