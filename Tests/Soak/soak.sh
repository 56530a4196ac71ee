#!/usr/bin/env bash
# Soak: the real fabrik process in poll mode under mixed valid and hostile HTTP and gRPC load,
# with a model reloaded every 5 s, for SECONDS (default 60). Writes rss.csv (resident memory once
# a second, split into anonymous, file-backed and shared, threads, and the tensor pool's bytes) and
# summary.txt (valid requests failed, hostile 5xx, restarts: all must be 0) to OUT_DIR, and fails
# when any of them is not 0. Where dotnet-counters is installed (`dotnet tool install -g
# dotnet-counters`), it also writes counters.csv: the runtime's own counters every 10 s (the
# managed heap's committed bytes and generation sizes), to tell managed from native growth.
#   Tests/Soak/soak.sh 1800 docs/soak      # the 30-minute run behind docs/reliability.md
#   FABRIK_SOAK_TRAFFIC=valid|hostile|KIND,... (kinds valid-http, valid-grpc, hostile-http,
#   hostile-grpc; default all) and FABRIK_SOAK_RELOADS=0 split the growth between its causes.
set -euo pipefail
seconds="${1:-60}"
out="${2:-${TMPDIR:-/tmp}/fabrik-soak}"
cd "$(dirname "$0")/../.."
mkdir -p "$out"
out="$(cd "$out" && pwd)"
dotnet build Tests/Tests.csproj -nologo -v q
rm -f "$out/server.pid" "$out/counters.csv"
counters=$(command -v dotnet-counters || { [[ -x $HOME/.dotnet/tools/dotnet-counters ]] && echo "$HOME/.dotnet/tools/dotnet-counters"; } || true)
if [[ -n $counters ]]; then
    # The test writes the server's PID once it is up; dotnet-counters ends when the server does.
    (
        for _ in $(seq 1 600); do [[ -s $out/server.pid ]] && break; sleep 0.5; done
        [[ -s $out/server.pid ]] && exec "$counters" collect -p "$(cat "$out/server.pid")" --counters System.Runtime \
            --refresh-interval 10 --format csv -o "$out/counters.csv" > /dev/null 2>&1
    ) &
fi
FABRIK_SOAK_SECONDS="$seconds" FABRIK_SOAK_OUT="$out" dotnet test Tests/Tests.csproj --no-build \
    --filter "FullyQualifiedName~Fabrik.Tests.Soak" --logger "console;verbosity=detailed"
cat "$out/summary.txt"
