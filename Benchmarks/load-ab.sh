# The common part of client-cost.sh and shm-cost.sh (sourced, not run): one Fabrik server pinned to
# one CPU serving models/, the load generator (Benchmarks' `load`) pinned to another, every
# variant measured in turn within each round at each concurrency, the order reversed every other
# round so that neither side always runs second; then the medians and the median of the rounds'
# own ratios (Benchmarks/load-summary.py). Each run is a warm-up request and three windows of
# MEASURE_MS (default 3000), reported together whether or not they agree.
#
# The sourcing script sets MODEL, CONCURRENCY (e.g. "1 32"), VARIANTS (an associative array:
# name -> load generator flags; flags with "-i grpc" go to the gRPC port), ORDER (the variant
# names in order), PAIRS (NAME:BASE:LABEL for the summary), ROUNDS, and SERVER_FLAGS if the
# server needs any. SERVER_CPU and CLIENT_CPU (default 1 and 0) and EXTRA_FLAGS (for the server)
# come from the environment. Needs a Release build, taskset, curl and python3, and two CPUs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MEASURE_MS=${MEASURE_MS:-3000}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
HTTP_PORT=18510
GRPC_PORT=18511
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

FABRIK=Runtime/bin/Release/net10.0/fabrik.dll
BENCHMARKS=Benchmarks/bin/Release/net10.0/Fabrik.Benchmarks.dll
[[ -f $FABRIK && -f $BENCHMARKS ]] || { echo "build Release first: dotnet build -c Release Fabrik.slnx" >&2; exit 2; }
for tool in taskset python3 curl; do
    command -v $tool >/dev/null || { echo "$tool is not installed" >&2; exit 2; }
done

taskset -c "$SERVER_CPU" dotnet "$FABRIK" --model-repository models --http-port "$HTTP_PORT" --grpc-port "$GRPC_PORT" \
    --allow-metrics=false ${SERVER_FLAGS:-} ${EXTRA_FLAGS:-} > "$WORK/server.log" 2>&1 &
for _ in $(seq 1 120); do curl -sf "http://localhost:$HTTP_PORT/v2/health/ready" >/dev/null && break; sleep 0.5; done
curl -sf "http://localhost:$HTTP_PORT/v2/health/ready" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

measure() { # variant concurrency: appends "variant concurrency infer/s p50 p99"
    local name=$1 concurrency=$2 url=localhost:$HTTP_PORT
    [[ " ${VARIANTS[$name]} " == *" -i grpc "* ]] && url=localhost:$GRPC_PORT
    # shellcheck disable=SC2086 # the flags are words
    taskset -c "$CLIENT_CPU" dotnet "$BENCHMARKS" load -m "$MODEL" -u "$url" ${VARIANTS[$name]} \
        --concurrency-range "$concurrency" -p "$MEASURE_MS" -r 3 -f "$WORK/run.csv" > "$WORK/run.log" 2>&1 \
        || { echo "$name c$concurrency failed:" >&2; cat "$WORK/run.log" >&2; exit 1; }
    # CSV columns: load, inferences/s, four server times, p50, p90, p95, p99, ...
    awk -F, -v name="$name" 'NR == 2 { print name, $1, $2, $7, $10 }' "$WORK/run.csv" | tee -a "$WORK/results"
}

# A warm-up run each, not counted.
for name in "${ORDER[@]}"; do measure "$name" "${CONCURRENCY%% *}" > /dev/null; done
: > "$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    order=("${ORDER[@]}")
    if (( round % 2 == 0 )); then
        order=(); for (( i = ${#ORDER[@]} - 1; i >= 0; i-- )); do order+=("${ORDER[i]}"); done
    fi
    for concurrency in $CONCURRENCY; do
        for name in "${order[@]}"; do measure "$name" "$concurrency"; done
    done
done

python3 Benchmarks/load-summary.py "$WORK/results" "$ROUNDS" "${PAIRS[@]}"
