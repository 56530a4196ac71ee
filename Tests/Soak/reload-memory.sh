#!/usr/bin/env bash
# Resident memory of a fabrik process across model reloads, to tell a leak per reload from memory
# that grows with traffic: explicit mode, the named models reloaded one after another through the
# load API as fast as they load, for SECONDS (default 120); prints "seconds reloads rss_kib" every
# 10 s. Run it once without load and once beside a load generator (wrk) to compare the slopes.
#   Tests/Soak/reload-memory.sh 120 simple mlp strings
#   Tests/Soak/reload-memory.sh 90 mlp_torch
set -euo pipefail
seconds="${1:-120}"
shift || true
models=("${@:-simple}")
cd "$(dirname "$0")/../.."
dotnet build Runtime/Runtime.csproj -nologo -v q
repository="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$repository"' EXIT
for model in "${models[@]}"; do cp -r "models/$model" "$repository/"; done
port=18300
dotnet Runtime/bin/Debug/net10.0/fabrik.dll --model-repository "$repository" --model-control-mode explicit \
    --load-model '*' --http-port "$port" --allow-grpc=false --allow-metrics=false > "$repository.log" 2>&1 &
pid=$!
until curl -sf "localhost:$port/v2/health/ready" > /dev/null; do
    kill -0 "$pid" || { cat "$repository.log"; exit 1; }
    sleep 0.5
done
rss() { awk '/VmRSS/ { print $2 }' "/proc/$pid/status"; }
start=$(date +%s); reloads=0; next=0
while elapsed=$(( $(date +%s) - start )); [ "$elapsed" -lt "$seconds" ]; do
    model="${models[$(( reloads % ${#models[@]} ))]}"
    status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "localhost:$port/v2/repository/models/$model/load")
    [ "$status" = 200 ] || echo "load $model answered $status"
    reloads=$((reloads + 1))
    if [ "$elapsed" -ge "$next" ]; then echo "$elapsed $reloads $(rss)"; next=$((next + 10)); fi
done
echo "end $reloads $(rss)"
