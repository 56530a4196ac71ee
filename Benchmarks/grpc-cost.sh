#!/usr/bin/env bash
# What a gRPC inference costs the server against the same inference over HTTP with the binary
# extension, with the client on another core: one Fabrik server pinned to one CPU, serving
# `simple` over both protocols; h2load (gRPC, one length-prefixed ModelInferRequest) and wrk (HTTP
# binary), each pinned to another CPU at concurrency 32, measured alternately over rounds; and the
# same two clients on the cheapest call each protocol has (gRPC ServerLive, an empty message;
# HTTP GET /v2/health/live), which is what the transport and our interceptors cost; and the same
# two calls on the minimal Kestrel endpoint (pinned alike), whose ServerLive is written by hand
# with no gRPC framework and no interceptor: Kestrel's own floor for each protocol. Prints,
# per round, each protocol's throughput and the server's own CPU time per request (utime + stime
# from /proc over the run, divided by the requests the client completed), then the medians and
# the gRPC ÷ HTTP ratios. On a machine where client and server share the cores (the performance
# report's setting), a client that spends more per request lowers the server's throughput as
# well; this script takes the client's cost out of the comparison.
# Needs a Release build, wrk, h2load (nghttp2-client), taskset and python3, and two CPUs.
#
#   Benchmarks/grpc-cost.sh [ROUNDS]     (SECONDS_PER_RUN, default 8; SERVER_CPU and CLIENT_CPU,
#                                          default 1 and 0; EXTRA_FLAGS for the server)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
HTTP_PORT=18500
GRPC_PORT=18501
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

FABRIK=Runtime/bin/Release/net10.0/fabrik.dll
BENCHMARKS=Benchmarks/bin/Release/net10.0/Fabrik.Benchmarks.dll
MINIMAL_PORT=18502
MINIMAL_H2C_PORT=18503
[[ -f $FABRIK && -f $BENCHMARKS ]] || { echo "build Release first: dotnet build -c Release Fabrik.slnx" >&2; exit 2; }
for tool in wrk h2load taskset python3 curl; do
    command -v $tool >/dev/null || { echo "$tool is not installed" >&2; exit 2; }
done

# The same request both ways: two INT32[1,16] inputs (0..15 and all ones) of `simple`, both
# outputs back as raw bytes.
python3 - "$WORK" <<'PY'
import json, struct, sys
work = sys.argv[1]
a, b = struct.pack("<16i", *range(16)), struct.pack("<16i", *[1] * 16)
header = json.dumps({"inputs": [{"name": n, "shape": [1, 16], "datatype": "INT32", "parameters": {"binary_data_size": 64}} for n in ("INPUT0", "INPUT1")],
                     "outputs": [{"name": n, "parameters": {"binary_data": True}} for n in ("OUTPUT0", "OUTPUT1")]}).encode()
open(f"{work}/body.bin", "wb").write(header + a + b)
open(f"{work}/binary.lua", "w").write(f'''local f = io.open("{work}/body.bin", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = "{len(header)}"
''')

# ModelInferRequest in protobuf's wire format, written out by hand so that nothing of ours
# encodes it: field numbers from grpc_service.proto.
def varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
def field(number, payload):  # length-delimited
    return varint(number << 3 | 2) + varint(len(payload)) + payload
def tensor(name):
    shape = b"".join(varint(d) for d in (1, 16))
    return field(1, name.encode()) + field(2, b"INT32") + field(3, shape)
message = field(1, b"simple") + field(5, tensor("INPUT0")) + field(5, tensor("INPUT1")) \
    + field(6, field(1, b"OUTPUT0")) + field(6, field(1, b"OUTPUT1")) + field(7, a) + field(7, b)
open(f"{work}/message", "wb").write(b"\0" + struct.pack(">I", len(message)) + message)
open(f"{work}/empty", "wb").write(b"\0" + struct.pack(">I", 0))
PY

taskset -c "$SERVER_CPU" dotnet "$FABRIK" --model-repository models --http-port "$HTTP_PORT" --grpc-port "$GRPC_PORT" \
    --allow-metrics=false ${EXTRA_FLAGS:-} > "$WORK/server.log" 2>&1 &
SERVER=$!
taskset -c "$SERVER_CPU" dotnet "$BENCHMARKS" minimal --port "$MINIMAL_PORT" --h2c-port "$MINIMAL_H2C_PORT" > "$WORK/minimal.log" 2>&1 &
MINIMAL=$!
for _ in $(seq 1 120); do curl -sf "http://localhost:$HTTP_PORT/v2/health/ready" >/dev/null && curl -sf "http://localhost:$MINIMAL_PORT/v2/health/live" >/dev/null && break; sleep 0.5; done
curl -sf "http://localhost:$HTTP_PORT/v2/health/ready" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
curl -sf "http://localhost:$MINIMAL_PORT/v2/health/live" >/dev/null || { cat "$WORK/minimal.log" >&2; exit 1; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/${1:-$SERVER}/stat"; }
successes() { curl -s "http://localhost:$HTTP_PORT/v2/models/simple/stats" | python3 -c "import json, sys; print(json.load(sys.stdin)['model_stats'][0]['inference_stats']['success']['count'])"; }
TICKS=$(getconf CLK_TCK)
measure() { # variant (http, grpc, http-live, grpc-live, minimal-http-live, minimal-grpc-live): appends "variant rps us_per_request"
    local variant=$1 before after out done served0 served1 pid=$SERVER http=$HTTP_PORT grpc=$GRPC_PORT
    [[ $variant == minimal-* ]] && pid=$MINIMAL http=$MINIMAL_PORT grpc=$MINIMAL_H2C_PORT
    served0=$(successes)
    before=$(cpu_ticks "$pid")
    case ${variant#minimal-} in
        grpc|grpc-live)
            local method=ModelInfer message=message
            [[ $variant == *grpc-live ]] && method=ServerLive message=empty
            out=$(taskset -c "$CLIENT_CPU" h2load -t1 -c32 -m1 -D "$SECONDS_PER_RUN" -d "$WORK/$message" \
                -H 'content-type: application/grpc' -H 'te: trailers' "http://localhost:$grpc/inference.GRPCInferenceService/$method")
            grep -q ' 0 failed, 0 errored' <<<"$out" || { echo "$variant: failed calls: $out" >&2; exit 1; }
            done=$(awk '/^requests:/ { print $8 }' <<<"$out") ;;
        http)
            out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" -s "$WORK/binary.lua" "http://localhost:$http/v2/models/simple/infer") ;;
        http-live)
            out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" "http://localhost:$http/v2/health/live") ;;
    esac
    if [[ $variant == *http* ]]; then
        grep -q "Non-2xx" <<<"$out" && { echo "$variant: non-2xx responses" >&2; exit 1; }
        done=$(awk '/requests in/ { print $1 }' <<<"$out")
    fi
    after=$(cpu_ticks "$pid")
    served1=$(successes)
    # Every inference the client counts as done must be one the server counts as a success
    # (h2load counts a gRPC error, sent with HTTP status 200, as done).
    if [[ $variant == http || $variant == grpc ]]; then
        python3 -c "import sys; d, s = $done, $served1 - $served0; sys.exit(0 if s >= d else f'$variant: {d} done but {s} inferences succeeded')"
    fi
    python3 -c "print('$variant', $done / $SECONDS_PER_RUN, ($after - $before) / $TICKS * 1e6 / $done)" | tee -a "$WORK/results"
}

VARIANTS=(http grpc http-live grpc-live minimal-http-live minimal-grpc-live)
# A warm-up run each, not counted.
for variant in "${VARIANTS[@]}"; do measure "$variant" > /dev/null; done
: > "$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    for variant in "${VARIANTS[@]}"; do measure "$variant"; done
done

python3 Benchmarks/cost-summary.py "$WORK/results" "$ROUNDS" "the client on another" \
    "grpc:http:inference" "grpc-live:http-live:liveness (transport and interceptors)" \
    "minimal-grpc-live:minimal-http-live:minimal endpoint's liveness (Kestrel alone)"
