#!/usr/bin/env bash
# Runs the property-based fuzz suite (Tests/Fuzz) for as long as asked: each property samples
# random and mutated requests and configs for SECONDS seconds (CsCheck_Time) instead of the
# bounded count CI uses. A failure prints the shrunk case and the seed that reproduces it
# (set CsCheck_Seed to replay it).
#   Tests/Fuzz/run-long.sh 600        # ten minutes per property
set -euo pipefail
seconds="${1:-300}"
cd "$(dirname "$0")/../.."
dotnet build Tests/Tests.csproj -nologo -v q
CsCheck_Time="$seconds" dotnet test Tests/Tests.csproj --no-build --filter "FullyQualifiedName~Fabrik.Tests.Fuzz" \
    --logger "console;verbosity=normal"
