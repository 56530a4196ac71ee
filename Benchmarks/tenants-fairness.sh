#!/usr/bin/env bash
# Fair share between tenants on one model: two API keys naming tenants `a` and `b` (weight 1 each,
# no quotas) call `mlp` over HTTP (binary) at concurrency 32 each, with Fabrik's load generator
# (Benchmarks `load`, which sends each key as `-H "Authorization: Bearer KEY"`).
# Each round measures B's latency alone, and B's latency while A floods the same model (A's
# generator runs through the whole of B's measurement); the two alternate in order from round to
# round so the machine's drift cancels. Prints each run, then the medians and the median of the
# rounds' own ratios of B's p99 (flooded ÷ alone; the issue's target is at most 1.5) and throughput.
# Needs a Release build with tenants in the key file (see docs/tenants.md) and python3.
#
# Both generators are closed loops: when B alone already saturates the model, B's fair half of
# it under the flood costs B latency by Little's law (concurrency ÷ throughput) whatever the
# order; A_CONCURRENCY above B's shows what the fair order protects B from.
#
#   Benchmarks/tenants-fairness.sh [ROUNDS]     (SECONDS_PER_WINDOW, default 5: each B run is three
#                                                 windows of it; A_CONCURRENCY and B_CONCURRENCY,
#                                                 default 32; PORT, default 18500; SERVER_CPUS and
#                                                 CLIENT_CPUS, taskset lists, unset: no pinning;
#                                                 FABRIK_DLL and BENCHMARKS_DLL run other builds;
#                                                 SHARED_TENANT=1: both keys in one tenant;
#                                                 MODEL, default mlp; B_RATE: B sends at this
#                                                 many requests per second instead, open loop;
#                                                 A_SERVER=separate: A floods a second server)
#
# B_RATE makes B the "normal" tenant of the issue: an open-loop client at a fixed rate that stays
# inside its fair share, so what A's flood costs it is queueing, not a share it never had.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS]  (ROUNDS a positive integer)" >&2; exit 2; }
SECONDS_PER_WINDOW=${SECONDS_PER_WINDOW:-5}
[[ $SECONDS_PER_WINDOW =~ ^[1-9][0-9]*$ ]] || { echo "SECONDS_PER_WINDOW must be a positive integer" >&2; exit 2; }
A_CONCURRENCY=${A_CONCURRENCY:-32}
B_CONCURRENCY=${B_CONCURRENCY:-32}
[[ $A_CONCURRENCY =~ ^[1-9][0-9]*$ && $B_CONCURRENCY =~ ^[1-9][0-9]*$ ]] || { echo "A_CONCURRENCY and B_CONCURRENCY must be positive integers" >&2; exit 2; }
B_RATE=${B_RATE:-}
[[ -z $B_RATE || $B_RATE =~ ^[1-9][0-9]*$ ]] || { echo "B_RATE must be a positive integer (requests per second)" >&2; exit 2; }
PORT=${PORT:-18500}
MODEL=${MODEL:-mlp}
FABRIK=${FABRIK_DLL:-Runtime/bin/Release/net10.0/fabrik.dll}
BENCHMARKS=${BENCHMARKS_DLL:-Benchmarks/bin/Release/net10.0/Fabrik.Benchmarks.dll}
[[ -f $FABRIK && -f $BENCHMARKS ]] || { echo "build Release first: dotnet build -c Release Fabrik.slnx" >&2; exit 2; }
for tool in python3 sha256sum openssl curl; do
    command -v $tool >/dev/null || { echo "$tool is not installed" >&2; exit 2; }
done
# Command prefixes pinning the server and the clients (empty: no pinning). A command run in the
# background with them is one process, so $! is the process to stop.
SERVER_PIN=() CLIENT_PIN=()
[[ -n ${SERVER_CPUS:-} ]] && SERVER_PIN=(taskset -c "$SERVER_CPUS")
[[ -n ${CLIENT_CPUS:-} ]] && CLIENT_PIN=(taskset -c "$CLIENT_CPUS")
WORK=$(mktemp -d)
SERVER=
SERVER_A=
FLOOD=
stop() { # PID: ends one of this script's processes and waits for it
    [[ -n ${1:-} ]] || return 0
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
trap 'stop "$FLOOD"; stop "$SERVER"; stop "$SERVER_A"; rm -rf "$WORK"' EXIT

# Two random keys, stored as their SHA-256, each naming its tenant.
KEY_A=$(openssl rand -hex 32)
KEY_B=$(openssl rand -hex 32)
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
# SHARED_TENANT=1 puts both keys in one tenant instead: one queue in arrival order, the
# first-come baseline that fair share is compared with.
TENANT_A=a TENANT_B=b
[[ ${SHARED_TENANT:-0} == 1 ]] && TENANT_A=shared TENANT_B=shared
cat > "$WORK/keys.json" <<JSON
{"keys": [{"id": "a", "sha256": "$(hash "$KEY_A")", "scopes": ["infer:*", "metadata"], "tenant": "$TENANT_A"},
          {"id": "b", "sha256": "$(hash "$KEY_B")", "scopes": ["infer:*", "metadata"], "tenant": "$TENANT_B"}],
 "tenants": [$( [[ $TENANT_A == shared ]] && echo '{"name": "shared", "weight": 1}' || echo '{"name": "a", "weight": 1}, {"name": "b", "weight": 1}')]}
JSON

# start_server PORT LOG: starts a server with the two keys and waits until it is ready; sets STARTED.
start_server() {
    "${SERVER_PIN[@]}" dotnet "$FABRIK" --model-repository models --http-port "$1" --allow-grpc=false --allow-metrics=false \
        --auth-keys "$WORK/keys.json" > "$2" 2>&1 &
    STARTED=$!
    for _ in $(seq 1 120); do
        if ! kill -0 "$STARTED" 2>/dev/null; then
            echo "a server stopped while starting; its log ends:" >&2; tail -n 20 "$2" >&2; stop "$STARTED"; exit 1
        fi
        if curl -sf -H "Authorization: Bearer $KEY_B" "http://127.0.0.1:$1/v2/health/ready" >/dev/null; then return 0; fi
        sleep 0.5
    done
    echo "a server was not ready within 60 s; its log ends:" >&2; tail -n 20 "$2" >&2; stop "$STARTED"; exit 1
}
start_server "$PORT" "$WORK/server.log"
SERVER=$STARTED
# A_SERVER=separate: A floods a second, identical server on PORT+1 instead, so that B's server
# does none of A's work and only the machine is shared: the control that tells what A's flood
# costs B through the two cores (the generators and the servers share them) from what it costs
# through Fabrik's queues.
A_PORT=$PORT
if [[ ${A_SERVER:-same} == separate ]]; then
    A_PORT=$((PORT + 1))
    start_server "$A_PORT" "$WORK/server-a.log"
    SERVER_A=$STARTED
elif [[ ${A_SERVER:-same} != same ]]; then
    echo "A_SERVER must be same or separate" >&2; exit 2
fi
for key in "$KEY_A" "$KEY_B"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "http://127.0.0.1:$PORT/v2/models/$MODEL")
    [[ $status == 200 ]] || { echo "a tenant's key was refused on $MODEL's metadata (HTTP $status): is the key file's format supported?" >&2; exit 1; }
done

# load KEY CSV WINDOW_MS: one run of the load generator for B's key (three windows).
LOAD=("${CLIENT_PIN[@]}" dotnet "$BENCHMARKS" load -m "$MODEL" -u "127.0.0.1:$PORT" -i http -r 3)
B_LOAD=(--concurrency-range "$B_CONCURRENCY")
[[ -n $B_RATE ]] && B_LOAD=(--request-rate-range "$B_RATE:$B_RATE:1")
load() { "${LOAD[@]}" "${B_LOAD[@]}" -p "$3" -H "Authorization: Bearer $1" -f "$2"; }
WINDOW_MS=$((SECONDS_PER_WINDOW * 1000))
# measure NAME ROUND: B's run, alone or flooded; appends "name p99_us p50_us infer_per_s" to results.
measure() {
    local name=$1 csv="$WORK/$1-$2.csv"
    if [[ $name == flooded ]]; then
        # A's generator runs one long window, longer than B's three, and is stopped when B is done.
        "${LOAD[@]}" -u "127.0.0.1:$A_PORT" --concurrency-range "$A_CONCURRENCY" -p $((4 * WINDOW_MS + 10000)) -H "Authorization: Bearer $KEY_A" -f "$WORK/flood-$2.csv" > "$WORK/flood-$2.log" 2>&1 &
        FLOOD=$!
        sleep 2 # A's workers are sending before B starts
        kill -0 "$FLOOD" 2>/dev/null || { echo "A's load generator ended early:" >&2; tail -n 5 "$WORK/flood-$2.log" >&2; exit 1; }
    fi
    if ! load "$KEY_B" "$csv" "$WINDOW_MS" > "$WORK/$name-$2.log" 2>&1; then
        echo "B's run ($name, round $2) failed or had errors:" >&2; tail -n 5 "$WORK/$name-$2.log" >&2; exit 1
    fi
    if [[ $name == flooded ]]; then
        kill -0 "$FLOOD" 2>/dev/null || { echo "A's load generator ended before B's run did:" >&2; tail -n 5 "$WORK/flood-$2.log" >&2; exit 1; }
        stop "$FLOOD"
        FLOOD=
        grep -q "errors" "$WORK/flood-$2.log" && { echo "A's requests had errors:" >&2; grep "errors" "$WORK/flood-$2.log" | tail -n 3 >&2; exit 1; }
    fi
    python3 - "$csv" "$name" <<'PY' | tee -a "$WORK/results"
import csv, sys
row = list(csv.DictReader(open(sys.argv[1])))[-1]
if int(row["Errors"]) > 0:
    sys.exit(f"{sys.argv[2]}: {row['Errors']} errors")
print(sys.argv[2], row["p99 latency"], row["p50 latency"], row["Inferences/Second"])
PY
}

load "$KEY_B" "$WORK/warm-up.csv" 2000 > /dev/null 2>&1 || { echo "the warm-up run failed" >&2; exit 1; }
: > "$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    if (( round % 2 )); then order=(alone flooded); else order=(flooded alone); fi
    for name in "${order[@]}"; do measure "$name" "$round"; done
done

B_SENDS="concurrency $B_CONCURRENCY"
[[ -n $B_RATE ]] && B_SENDS="$B_RATE requests/s (open loop)"
python3 - "$WORK/results" "$ROUNDS" "$B_SENDS" "$A_CONCURRENCY" "$TENANT_A" "$MODEL" "${A_SERVER:-same}" <<'PY'
import statistics, sys
queues = "one tenant, one queue in arrival order" if sys.argv[5] == "shared" else "two tenants, fair share"
if sys.argv[7] == "separate":
    queues = "A on a second server: only the machine is shared"
runs = {}
for line in open(sys.argv[1]):
    name, p99, p50, rps = line.split()
    runs.setdefault(name, []).append((float(p99), float(p50), float(rps)))
print(f"\nB on {sys.argv[6]} at {sys.argv[3]} (A at concurrency {sys.argv[4]}; {queues}), medians over {sys.argv[2]} rounds (µs; inferences/s):")
for name in ("alone", "flooded"):
    p99s, p50s, rpss = zip(*runs[name])
    print(f"  B {name:8} p99 {statistics.median(p99s):8.0f}  p50 {statistics.median(p50s):8.0f}  {statistics.median(rpss):8.0f} infer/s")
pairs = list(zip(runs["flooded"], runs["alone"]))
print(f"  B's p99 flooded ÷ alone ({queues}, A at c{sys.argv[4]}): {statistics.median(f[0] / a[0] for f, a in pairs):.2f} (target ≤ 1.5); "
      f"p50 {statistics.median(f[1] / a[1] for f, a in pairs):.2f}; throughput {statistics.median(f[2] / a[2] for f, a in pairs):.2f}")
PY
