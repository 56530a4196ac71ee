#!/usr/bin/env bash
# How busy the GPU pipeline keeps a device, measured on a simulated one (no GPU needed): the real
# server serves a model on the simulated device (16 KiB of input per request, max batch 32, 8 ms
# per batch run, copies at 0.25 GB/s each way), and the load generator drives it over HTTP with
# the binary extension at concurrency 64 for 10 s after a 3 s warm-up. The last line printed is
#
#   device utilisation: U (served S/s, ideal I/s)
#
# where U is the fraction of the window in which the device's run stage was busy (with several
# instances, the lowest instance's), S the inferences answered per second, and I what the device
# runs at full batches (instances × 32 ÷ 8 ms). Arguments go to the command, for example:
#
#   Benchmarks/device-sim.sh                        # the pipeline (the default for staged instances)
#   Benchmarks/device-sim.sh --pipeline-depth 1     # one batch at a time: gather, run, scatter in turn
#   Benchmarks/device-sim.sh --instances 2          # two instances of the device
#
# Other options: --seconds, --warmup-seconds, --concurrency, --run-ms, --copy-gbps, --width (FP32
# values per request), --max-batch. NO_BUILD=1 skips the Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${NO_BUILD:-0} != 1 ]]; then
    dotnet build -c Release Benchmarks/Fabrik.Benchmarks.csproj -v quiet -nologo >&2
fi
exec dotnet Benchmarks/bin/Release/net10.0/Fabrik.Benchmarks.dll device-sim "$@"
