#!/usr/bin/env bash
# Soak: the real fabrik process in poll mode under mixed valid and hostile HTTP and gRPC load,
# with a model reloaded every 5 s, for SECONDS (default 60). Writes rss.csv (resident memory once
# a second) and summary.txt (valid requests failed, hostile 5xx, restarts: all must be 0) to
# OUT_DIR, and fails when any of them is not 0.
#   Tests/Soak/soak.sh 1800 docs/soak      # the 30-minute run behind docs/reliability.md
set -euo pipefail
seconds="${1:-60}"
out="${2:-${TMPDIR:-/tmp}/fabrik-soak}"
cd "$(dirname "$0")/../.."
mkdir -p "$out"
out="$(cd "$out" && pwd)"
dotnet build Tests/Tests.csproj -nologo -v q
FABRIK_SOAK_SECONDS="$seconds" FABRIK_SOAK_OUT="$out" dotnet test Tests/Tests.csproj --no-build \
    --filter "FullyQualifiedName~Fabrik.Tests.Soak" --logger "console;verbosity=detailed"
cat "$out/summary.txt"
