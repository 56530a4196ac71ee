#!/usr/bin/env bash
# What tenants cost: throughput, p50 and p99 of `simple` at concurrency 32 (the load generator,
# HTTP binary) on two Fabrik servers with the same API key, one whose key file declares the key's
# tenant with every quota set (request rate, burst, in-flight, waiting and compute limits high
# enough never to refuse) and one without tenants, measured alternately over rounds. Prints each
# round, then the medians and the ratios tenants ÷ keys only (the issue's target: throughput
# ≥ 0.95). The servers are pinned to SERVER_CPU and the load generator to CLIENT_CPU; run it on
# an otherwise idle machine. Needs a Release build, taskset and python3.
#
#   Benchmarks/tenants-cost.sh [ROUNDS]      (SECONDS_PER_RUN, default 8; SERVER_CPU and
#                                              CLIENT_CPU, default 1 and 0)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

FABRIK=Runtime/bin/Release/net10.0/fabrik.dll
BENCHMARKS=Benchmarks/bin/Release/net10.0/Fabrik.Benchmarks.dll
[[ -f $FABRIK && -f $BENCHMARKS ]] || { echo "build Release first: dotnet build -c Release Fabrik.slnx" >&2; exit 2; }
for tool in taskset python3 curl; do
    command -v $tool >/dev/null || { echo "$tool is not installed" >&2; exit 2; }
done

# One random key; the same entry in both files, the second naming a tenant with every quota.
KEY=$(python3 -c "import secrets; print(secrets.token_hex(32))")
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
ENTRY='"id": "bench", "sha256": "'$HASH'", "scopes": ["infer:*", "metadata", "stats"]'
printf '{"keys": [{%s}]}\n' "$ENTRY" > "$WORK/keys.json"
printf '{"keys": [{%s, "tenant": "bench"}], "tenants": [{"name": "bench", "weight": 2, "requests_per_second": 1000000, "burst": 1000000, "max_in_flight": 100000, "max_queued": 1000, "compute_ms_per_minute": 3600000000}]}\n' \
    "$ENTRY" > "$WORK/tenants.json"

declare -A PORT=([keys]=18500 [tenants]=18600)
declare -A PID
for name in keys tenants; do
    taskset -c "$SERVER_CPU" dotnet "$FABRIK" --model-repository models --http-port "${PORT[$name]}" --allow-grpc=false \
        --allow-metrics=false --auth-keys "$WORK/$name.json" > "$WORK/$name.log" 2>&1 &
    PID[$name]=$!
done
for name in keys tenants; do
    for _ in $(seq 1 120); do curl -sf "http://localhost:${PORT[$name]}/v2/health/ready" >/dev/null && break; sleep 0.5; done
    curl -sf "http://localhost:${PORT[$name]}/v2/health/ready" >/dev/null || { cat "$WORK/$name.log" >&2; exit 1; }
done

measure() { # name: appends "name rps p50_us p99_us"
    local name=$1 out
    out=$(taskset -c "$CLIENT_CPU" dotnet "$BENCHMARKS" load -m simple -u "localhost:${PORT[$name]}" --concurrency-range 32:32:1 \
        -p $((SECONDS_PER_RUN * 1000)) -r 3 -H "Authorization: Bearer $KEY")
    python3 - "$name" "$out" <<'PY' | tee -a "$WORK/results"
import re, sys
name, out = sys.argv[1], sys.argv[2]
m = re.search(r"([\d.]+) infer/s, latency p50 (\d+) p90 \d+ p95 \d+ p99 (\d+)", out)
if not m:
    sys.exit(f"{name}: no result in the load generator's output:\n{out}")
print(name, m.group(1), m.group(2), m.group(3))
PY
}

measure keys > /dev/null   # warm-up, not counted
measure tenants > /dev/null
: > "$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    for name in keys tenants; do measure "$name"; done
done
usage=$(curl -s -H "Authorization: Bearer $KEY" "http://localhost:${PORT[tenants]}/v2/tenants/usage")

python3 - "$WORK/results" "$usage" <<'PY'
import json, statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
by = {}
for name, rps, p50, p99 in rows:
    by.setdefault(name, []).append((float(rps), float(p50), float(p99)))
med = {name: [statistics.median(v[i] for v in values) for i in range(3)] for name, values in by.items()}
print(f"{'server':<10} {'infer/s':>10} {'p50 µs':>8} {'p99 µs':>8}   (medians of {len(by['keys'])} rounds)")
for name in ("keys", "tenants"):
    rps, p50, p99 = med[name]
    print(f"{name:<10} {rps:>10.1f} {p50:>8.0f} {p99:>8.0f}")
k, t = med["keys"], med["tenants"]
print(f"tenants ÷ keys only: throughput {t[0] / k[0]:.3f} (target ≥ 0.95), p50 {t[1] / k[1]:.3f}, p99 {t[2] / k[2]:.3f}")
usage = json.loads(sys.argv[2])
print("tenant usage over the runs:", json.dumps(usage["tenants"]))
PY
