#!/usr/bin/env bash
# Latency-tail experiments: Fabrik under several runtime settings against the minimal endpoint,
# measured with wrk (HTTP/1.1, JSON, `simple`) at concurrency 1 and 32, alternately, over rounds;
# prints each side's median p50, p99 and throughput. Needs a Release build and wrk.
#
#   Benchmarks/latency-tail.sh [ROUNDS] [VARIANT ...]
#   Benchmarks/latency-tail.sh 5 shipped "workstation=DOTNET_gcServer=0 DOTNET_gcConcurrent=1"
#
# A variant is NAME or NAME=ENVIRONMENT (space-separated VAR=VALUE pairs given to Fabrik only;
# FABRIK_DLL=<path to fabrik.dll> among them runs that build instead of Runtime/bin/Release).
# SECONDS_PER_RUN (default 8) sets each wrk run's length.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
shift || true
VARIANTS=("$@")
(( ${#VARIANTS[@]} > 0 )) || VARIANTS=(shipped)
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

FABRIK=Runtime/bin/Release/net10.0/fabrik.dll
BENCH=Benchmarks/bin/Release/net10.0/Fabrik.Benchmarks.dll
[[ -f $FABRIK && -f $BENCH ]] || { echo "build Release first: dotnet build -c Release Fabrik.slnx" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs":[{"name":"INPUT0","datatype":"INT32","shape":[1,16],"data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]},{"name":"INPUT1","datatype":"INT32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}'
LUA

wait_for() { for _ in $(seq 1 120); do curl -sf "$1" >/dev/null && return 0; sleep 0.5; done; echo "nothing answered at $1" >&2; exit 1; }
to_us() { awk '{ v = $1; if (v ~ /us$/) { sub(/us/, "", v); print v } else if (v ~ /ms$/) { sub(/ms/, "", v); print v * 1000 } else { sub(/s/, "", v); print v * 1000000 } }'; }
# wrk NAME PORT CONCURRENCY: appends "name concurrency p50 p99 rps" to results.
measure() {
    local out
    out=$(wrk -t1 -c"$3" -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/post.lua" "http://127.0.0.1:$2/v2/models/simple/infer")
    if grep -q "Non-2xx" <<<"$out"; then echo "$1: non-2xx responses" >&2; exit 1; fi
    echo "$1 $3 $(awk '$1 == "50%" { print $2 }' <<<"$out" | to_us) $(awk '$1 == "99%" { print $2 }' <<<"$out" | to_us) $(awk '/Requests\/sec/ { print $2 }' <<<"$out")" | tee -a "$WORK/results"
}

dotnet "$BENCH" minimal --port 8200 > "$WORK/minimal.log" 2>&1 &
wait_for http://127.0.0.1:8200/v2/models/simple
for variant in "${VARIANTS[@]}"; do
    name=${variant%%=*}
    settings=
    [[ $variant == *=* ]] && settings=${variant#*=}
    # FABRIK_DLL=<path> in a variant's settings runs another build (for before/after comparisons).
    dll=$(grep -o 'FABRIK_DLL=[^ ]*' <<<"$settings" | cut -d= -f2- || true)
    # shellcheck disable=SC2086 # settings are VAR=VALUE words
    env $settings dotnet "${dll:-$FABRIK}" --model-repository models --http-port 8100 --allow-grpc=false --allow-metrics=false > "$WORK/$name.log" 2>&1 &
    pid=$!
    wait_for http://127.0.0.1:8100/v2/health/ready
    wrk -t1 -c32 -d2s -s "$WORK/post.lua" http://127.0.0.1:8100/v2/models/simple/infer > /dev/null   # warm-up
    wrk -t1 -c32 -d2s -s "$WORK/post.lua" http://127.0.0.1:8200/v2/models/simple/infer > /dev/null
    for round in $(seq 1 "$ROUNDS"); do
        for concurrency in 1 32; do
            measure "$name" 8100 $concurrency
            measure "minimal($name)" 8200 $concurrency
        done
    done
    kill $pid; wait $pid 2>/dev/null || true
done

echo
echo "medians over $ROUNDS rounds of ${SECONDS_PER_RUN} s (µs; requests/s)"
printf '%-40s %4s %8s %8s %10s\n' side conc p50 p99 rps
awk '{ key = $1 " " $2; n[key]++; p50[key, n[key]] = $3; p99[key, n[key]] = $4; rps[key, n[key]] = $5 }
     function median(a, key, count,   i, j, t, v) { for (i = 1; i <= count; i++) v[i] = a[key, i]
         for (i = 1; i <= count; i++) for (j = i + 1; j <= count; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
         return v[int((count + 1) / 2)] }
     END { for (key in n) { split(key, k, " "); printf "%-40s %4s %8.0f %8.0f %10.0f\n", k[1], k[2], median(p50, key, n[key]), median(p99, key, n[key]), median(rps, key, n[key]) } }' "$WORK/results" | sort
