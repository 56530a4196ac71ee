#!/usr/bin/env bash
# Embeddings per second from POST /v1/embeddings on the sample model `embedder`, at concurrency 32
# (wrk, HTTP/1.1, one input per request), with 16-token and 128-token inputs, each sent two ways:
# as text, which the server tokenises, and as the same number of token ids, which it does not.
# The difference between the two is the share of the server's time spent tokenising.
# The server is pinned to SERVER_CPU and wrk to CLIENT_CPU; run it on an otherwise idle machine.
# Needs a Release build, wrk, taskset and python3.
#
#   Benchmarks/embeddings-load.sh        (SECONDS_PER_RUN, default 15; CONCURRENCY, default 32;
#                                          SERVER_CPU and CLIENT_CPU, default 1 and 0)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-15}
CONCURRENCY=${CONCURRENCY:-32}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
PORT=${PORT:-18400}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

FABRIK=Runtime/bin/Release/net10.0/fabrik.dll
[[ -f $FABRIK ]] || { echo "build Release first: dotnet build -c Release Fabrik.slnx" >&2; exit 2; }
for tool in wrk taskset python3; do
    command -v $tool >/dev/null || { echo "$tool is not installed" >&2; exit 2; }
done

# Bodies: "hello world" repeated to 14 or 126 words ([CLS] and [SEP] make 16 or 128 tokens), and
# token arrays of the same lengths (2 = [CLS], 3 = [SEP]).
python3 - "$WORK" "$CONCURRENCY" <<'PY'
import json, sys
work = sys.argv[1]
for tokens in (16, 128):
    words = " ".join(["hello", "world"] * ((tokens - 2) // 2))
    ids = [2] + [10 + i % 40 for i in range(tokens - 2)] + [3]
    for kind, value in (("text", words), ("ids", ids)):
        body = json.dumps({"model": "embedder", "input": value, "encoding_format": "base64"})
        open(f"{work}/{kind}{tokens}.lua", "w").write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.body = {json.dumps(body)}\n'
            'done = function(summary, latency, requests)\n'
            '  io.write(string.format("RESULT %d %d %.0f\\n", summary.requests, summary.errors.status, latency:percentile(99)))\n'
            'end\n')
PY

taskset -c "$SERVER_CPU" dotnet "$FABRIK" --model-repository models --http-port "$PORT" --allow-grpc=false --allow-metrics=false \
    --log-verbose=0 > "$WORK/server.log" 2>&1 &
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

declare -A REQUESTS
printf '%-10s %-6s %14s %10s %10s\n' tokens input embeddings/s errors p99_ms
for tokens in 16 128; do
    for kind in text ids; do
        # A short warm-up, then the measured run.
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONCURRENCY" -d3s -s "$WORK/$kind$tokens.lua" "http://127.0.0.1:$PORT/v1/embeddings" >/dev/null
        line=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONCURRENCY" -d"${SECONDS_PER_RUN}s" -s "$WORK/$kind$tokens.lua" \
            "http://127.0.0.1:$PORT/v1/embeddings" | grep '^RESULT')
        read -r _ requests errors p99 <<< "$line"
        awk -v t="$tokens" -v k="$kind" -v r="$requests" -v s="$SECONDS_PER_RUN" -v e="$errors" -v p="$p99" \
            'BEGIN { printf "%-10s %-6s %14.1f %10d %10.2f\n", t, k, r / s, e, p / 1000 }'
        REQUESTS[$kind$tokens]=$requests
    done
done
for tokens in 16 128; do
    awk -v t="$tokens" -v text="${REQUESTS[text$tokens]}" -v ids="${REQUESTS[ids$tokens]}" \
        'BEGIN { printf "text ÷ token ids at %d tokens, embeddings/s: %.2f (one run each: below 1, one minus it is the share of time spent tokenising; at or above 1, less than the runs resolve)\n", t, text / ids }'
done
